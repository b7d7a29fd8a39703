/*
 * test_modem_sip_ua.c - SIP signalling between two user agents on
 * loopback in one process: answer, media agreed on both sides, the T.38
 * re-INVITE accepted or refused, BYE in both directions, busy, and a peer
 * that never answers. Waits are bounded polls of the published state.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "modem/sip_ua.h"

#define WAIT_LIMIT_MS 10000

struct taker {
    bool refuse;
    _Atomic(struct sip_call *) call;
    char caller_id[64];
};

static int take_call(void *user, struct sip_call *call, const char *caller_id)
{
    struct taker *t = user;
    if (t->refuse)
        return -EBUSY;
    snprintf(t->caller_id, sizeof t->caller_id, "%s", caller_id);
    atomic_store(&t->call, call);
    return 0;
}

struct pair {
    struct sip_ua *a, *b;  /* a calls b */
    struct taker taker;
};

static void sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

static enum sip_call_state wait_state(struct sip_call *c, enum sip_call_state until)
{
    enum sip_call_state st = SIP_CALL_CALLING;
    for (int waited = 0; waited < WAIT_LIMIT_MS; waited += 10) {
        st = sip_call_state(c, NULL);
        if (st == until || st >= SIP_CALL_BUSY)
            return st;
        sleep_ms(10);
    }
    return st;
}

static enum sip_t38_state wait_t38_settled(struct sip_call *c)
{
    enum sip_t38_state t = SIP_T38_NONE;
    for (int waited = 0; waited < WAIT_LIMIT_MS; waited += 10) {
        sip_call_media(c, NULL, &t);
        if (t == SIP_T38_ACTIVE || t == SIP_T38_REFUSED)
            return t;
        sleep_ms(10);
    }
    return t;
}

static struct sip_call *wait_taken(struct taker *t)
{
    for (int waited = 0; waited < WAIT_LIMIT_MS; waited += 10) {
        struct sip_call *c = atomic_load(&t->call);
        if (c)
            return c;
        sleep_ms(10);
    }
    return NULL;
}

static uint16_t fd_port(int fd)
{
    struct sockaddr_in a;
    socklen_t len = sizeof a;
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    return ntohs(a.sin_port);
}

static void make_pair(struct pair *p, bool a_t38, bool b_t38, bool b_refuses)
{
    char err[256], peer[64];
    memset(p, 0, sizeof *p);
    p->taker.refuse = b_refuses;
    struct sip_ua_config cb = {
        .local = "127.0.0.1:0", .t38 = b_t38, .incoming = take_call, .user_data = &p->taker,
    };
    assert_int_equal(sip_ua_create(&p->b, &cb, err, sizeof err), 0);
    snprintf(peer, sizeof peer, "127.0.0.1:%u", sip_ua_port(p->b));
    struct sip_ua_config ca = { .peer = peer, .local = "127.0.0.1", .user = "5550100", .t38 = a_t38 };
    assert_int_equal(sip_ua_create(&p->a, &ca, err, sizeof err), 0);
}

static void free_pair(struct pair *p)
{
    sip_ua_destroy(p->a);
    sip_ua_destroy(p->b);
}

/* An answered call between a pair: the scaffolding of every test that
 * starts from one, set up from the table of cases in main(). */
struct call_case {
    bool a_t38, b_t38;  /* each side's willingness to switch to T.38 */
};

struct answered {
    struct pair p;
    struct sip_call *ca, *cb;  /* NULL once a test released it */
};

static int setup_answered_call(void **state)
{
    const struct call_case *cc = *state;
    struct answered *t = calloc(1, sizeof *t);
    assert_non_null(t);
    make_pair(&t->p, cc->a_t38, cc->b_t38, false);
    assert_int_equal(sip_ua_dial(t->p.a, "5551234", &t->ca), 0);
    assert_int_equal(wait_state(t->ca, SIP_CALL_ANSWERED), SIP_CALL_ANSWERED);
    t->cb = wait_taken(&t->p.taker);
    assert_non_null(t->cb);
    *state = t;
    return 0;
}

static int teardown_answered_call(void **state)
{
    struct answered *t = *state;
    if (t->ca)
        sip_call_release(t->ca);
    if (t->cb)
        sip_call_release(t->cb);
    free_pair(&t->p);
    free(t);
    return 0;
}

static const struct call_case both_t38 = { .a_t38 = true, .b_t38 = true };
static const struct call_case callee_without_t38 = { .a_t38 = true, .b_t38 = false };
static const struct call_case audio_only = { .a_t38 = false, .b_t38 = false };

static void test_answered_call_agrees_audio_on_both_sides(void **state)
{
    struct answered *t = *state;
    assert_string_equal(t->p.taker.caller_id, "5550100");
    struct sdp_choice ma, mb;
    sip_call_media(t->ca, &ma, NULL);
    sip_call_media(t->cb, &mb, NULL);
    assert_int_equal(ma.kind, SDP_CHOICE_AUDIO);
    assert_int_equal(mb.kind, SDP_CHOICE_AUDIO);
    assert_int_equal(ma.pt, SDP_PT_PCMU);
    assert_int_equal(ma.port, fd_port(sip_call_audio_fd(t->cb)));
    assert_int_equal(mb.port, fd_port(sip_call_audio_fd(t->ca)));
    assert_string_equal(ma.addr, "127.0.0.1");
}

static void test_t38_reinvite_accepted_switches_both_sides(void **state)
{
    struct answered *t = *state;
    sip_call_request_t38(t->ca);
    assert_int_equal(wait_t38_settled(t->ca), SIP_T38_ACTIVE);
    assert_int_equal(wait_t38_settled(t->cb), SIP_T38_ACTIVE);
    struct sdp_choice ma, mb;
    sip_call_media(t->ca, &ma, NULL);
    sip_call_media(t->cb, &mb, NULL);
    assert_int_equal(ma.kind, SDP_CHOICE_T38);
    assert_int_equal(mb.kind, SDP_CHOICE_T38);
    assert_int_equal(ma.port, fd_port(sip_call_image_fd(t->cb)));
    assert_int_equal(mb.port, fd_port(sip_call_image_fd(t->ca)));
    assert_true(ma.t38.transferred_tcf);
    assert_int_equal(ma.t38.ec, SDP_T38_EC_REDUNDANCY);
    assert_int_equal(sip_call_state(t->ca, NULL), SIP_CALL_ANSWERED);
}

/* A call whose destination must stay on audio refuses the peer's T.38
 * re-INVITE though both agents allow T.38. */
static void test_call_forbidding_t38_refuses_the_peers_switch(void **state)
{
    struct answered *t = *state;
    sip_call_forbid_t38(t->cb);
    sip_call_request_t38(t->ca);
    assert_int_equal(wait_t38_settled(t->ca), SIP_T38_REFUSED);
    struct sdp_choice ma, mb;
    sip_call_media(t->ca, &ma, NULL);
    sip_call_media(t->cb, &mb, NULL);
    assert_int_equal(ma.kind, SDP_CHOICE_AUDIO);
    assert_int_equal(mb.kind, SDP_CHOICE_AUDIO);
    assert_int_equal(sip_call_state(t->ca, NULL), SIP_CALL_ANSWERED);
    assert_int_equal(sip_call_state(t->cb, NULL), SIP_CALL_ANSWERED);
}

static void test_t38_refused_by_peer_keeps_the_call_on_audio(void **state)
{
    struct answered *t = *state;
    sip_call_request_t38(t->ca);
    assert_int_equal(wait_t38_settled(t->ca), SIP_T38_REFUSED);
    struct sdp_choice ma;
    sip_call_media(t->ca, &ma, NULL);
    assert_int_equal(ma.kind, SDP_CHOICE_AUDIO);
    assert_int_equal(sip_call_state(t->ca, NULL), SIP_CALL_ANSWERED);
    assert_int_equal(sip_call_state(t->cb, NULL), SIP_CALL_ANSWERED);
}

static void test_caller_hangup_ends_the_call_at_the_callee(void **state)
{
    struct answered *t = *state;
    sip_call_release(t->ca);
    t->ca = NULL;
    assert_int_equal(wait_state(t->cb, SIP_CALL_ENDED), SIP_CALL_ENDED);
}

static void test_callee_hangup_ends_the_call_at_the_caller(void **state)
{
    struct answered *t = *state;
    sip_call_release(t->cb);
    t->cb = NULL;
    assert_int_equal(wait_state(t->ca, SIP_CALL_ENDED), SIP_CALL_ENDED);
}

static void test_busy_callee_gives_busy_with_486(void **state)
{
    (void)state;
    struct pair p;
    make_pair(&p, false, false, true);
    struct sip_call *ca;
    assert_int_equal(sip_ua_dial(p.a, "5551234", &ca), 0);
    assert_int_equal(wait_state(ca, SIP_CALL_BUSY), SIP_CALL_BUSY);
    int status = 0;
    sip_call_state(ca, &status);
    assert_int_equal(status, 486);
    sip_call_release(ca);
    free_pair(&p);
}

static void test_peer_that_never_answers_gives_no_answer(void **state)
{
    (void)state;
    /* A socket that takes the INVITE and says nothing. */
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    char peer[64], err[256];
    snprintf(peer, sizeof peer, "127.0.0.1:%u", fd_port(fd));
    struct sip_ua_config cfg = { .peer = peer, .local = "127.0.0.1", .ring_timeout_s = 1 };
    struct sip_ua *ua;
    assert_int_equal(sip_ua_create(&ua, &cfg, err, sizeof err), 0);
    struct sip_call *c;
    assert_int_equal(sip_ua_dial(ua, "5551234", &c), 0);
    assert_int_equal(wait_state(c, SIP_CALL_NO_ANSWER), SIP_CALL_NO_ANSWER);
    sip_call_release(c);
    sip_ua_destroy(ua);
    close(fd);
}

static void test_bad_configuration_is_refused_with_a_sentence(void **state)
{
    (void)state;
    char err[256] = "";
    struct sip_ua *ua;
    struct sip_ua_config cfg = { .peer = "127.0.0.1", .codecs = "g729" };
    assert_int_equal(sip_ua_create(&ua, &cfg, err, sizeof err), -EINVAL);
    assert_non_null(strstr(err, "pcmu"));
}

/* A test that starts from an answered call of the given case. */
#define ANSWERED(test, call_case) \
    cmocka_unit_test_prestate_setup_teardown(test, setup_answered_call, teardown_answered_call, (void *)&(call_case))

int main(void)
{
    const struct CMUnitTest tests[] = {
        ANSWERED(test_answered_call_agrees_audio_on_both_sides, both_t38),
        ANSWERED(test_t38_reinvite_accepted_switches_both_sides, both_t38),
        ANSWERED(test_t38_refused_by_peer_keeps_the_call_on_audio, callee_without_t38),
        ANSWERED(test_call_forbidding_t38_refuses_the_peers_switch, both_t38),
        ANSWERED(test_caller_hangup_ends_the_call_at_the_callee, audio_only),
        ANSWERED(test_callee_hangup_ends_the_call_at_the_caller, audio_only),
        cmocka_unit_test(test_busy_callee_gives_busy_with_486),
        cmocka_unit_test(test_peer_that_never_answers_gives_no_answer),
        cmocka_unit_test(test_bad_configuration_is_refused_with_a_sentence),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
