/*
 * test_modem_sip_reg.c - a SIP agent that registers, against a scripted
 * registrar on loopback (a UDP socket in a thread that answers every
 * request with one chosen status, echoing the headers a response needs):
 * the line status while registering, registered (with the lifetime the
 * registrar granted) and refused (with the back-off); an INVITE answered
 * 503 ends as the line's failure; bad settings are refused with a sentence.
 * Real registrars (Kamailio) are in tests/system/test_sip_registrar.sh.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "modem/sip_ua.h"

#define WAIT_LIMIT_MS 10000

struct registrar {
    int fd;
    int status;            /* the answer to every request but ACK */
    const char *reason;
    int granted;           /* 2xx to REGISTER: the Contact's expires */
    atomic_int requests;   /* REGISTERs and INVITEs seen */
    atomic_int registers;
    atomic_bool stop;
    pthread_t thread;
    char port[16];
};

static void sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

/* Appends every header line of msg named name (case-insensitive) to out. */
static void copy_headers(const char *msg, const char *name, char *out, size_t cap)
{
    size_t nl = strlen(name);
    for (const char *p = msg; p && *p; p = strstr(p, "\r\n") ? strstr(p, "\r\n") + 2 : NULL) {
        if (p[0] == '\r')
            break; /* end of the headers */
        if (strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
            const char *e = strstr(p, "\r\n");
            size_t len = e ? (size_t)(e - p) + 2 : strlen(p);
            size_t have = strlen(out);
            if (have + len < cap) {
                memcpy(out + have, p, len);
                out[have + len] = '\0';
            }
        }
    }
}

static void *registrar_main(void *arg)
{
    struct registrar *r = arg;
    char buf[4096];
    while (!atomic_load(&r->stop)) {
        struct sockaddr_storage from;
        socklen_t flen = sizeof from;
        ssize_t n = recvfrom(r->fd, buf, sizeof buf - 1, 0, (struct sockaddr *)&from, &flen);
        if (n <= 0)
            continue; /* the receive timeout: look at stop again */
        buf[n] = '\0';
        if (strncmp(buf, "ACK ", 4) == 0 || strncmp(buf, "SIP/2.0", 7) == 0)
            continue;
        bool reg = strncmp(buf, "REGISTER ", 9) == 0;
        atomic_fetch_add(&r->requests, 1);
        if (reg)
            atomic_fetch_add(&r->registers, 1);
        char hdrs[2048] = "";
        copy_headers(buf, "Via", hdrs, sizeof hdrs);
        copy_headers(buf, "From", hdrs, sizeof hdrs);
        copy_headers(buf, "To", hdrs, sizeof hdrs);
        copy_headers(buf, "Call-ID", hdrs, sizeof hdrs);
        copy_headers(buf, "CSeq", hdrs, sizeof hdrs);
        char contact[512] = "", extra[600] = "";
        copy_headers(buf, "Contact", contact, sizeof contact);
        if (reg && r->status < 300 && contact[0]) {
            char *semi = strchr(contact, ';'); /* our own expires param replaces theirs */
            char *gt = strchr(contact, '>');
            if (semi && gt && semi > gt)
                *semi = '\0';
            else
                contact[strcspn(contact, "\r")] = '\0';
            snprintf(extra, sizeof extra, "%s;expires=%d\r\n", contact, r->granted);
        }
        char out[4096];
        int len = snprintf(out, sizeof out, "SIP/2.0 %d %s\r\n%s%sContent-Length: 0\r\n\r\n", r->status, r->reason,
                           hdrs, extra);
        ssize_t w = sendto(r->fd, out, (size_t)len, 0, (struct sockaddr *)&from, flen);
        (void)w;
    }
    return NULL;
}

static void registrar_start(struct registrar *r, int status, const char *reason, int granted)
{
    memset(r, 0, sizeof *r);
    r->status = status;
    r->reason = reason;
    r->granted = granted;
    r->fd = socket(AF_INET, SOCK_DGRAM, 0);
    assert_true(r->fd >= 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    assert_int_equal(bind(r->fd, (struct sockaddr *)&a, sizeof a), 0);
    socklen_t len = sizeof a;
    assert_int_equal(getsockname(r->fd, (struct sockaddr *)&a, &len), 0);
    snprintf(r->port, sizeof r->port, "%u", ntohs(a.sin_port));
    struct timeval tv = { 0, 100000 };
    setsockopt(r->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    assert_int_equal(pthread_create(&r->thread, NULL, registrar_main, r), 0);
}

static void registrar_stop(struct registrar *r)
{
    atomic_store(&r->stop, true);
    pthread_join(r->thread, NULL);
    close(r->fd);
}

static struct sip_ua *agent_for(struct registrar *r, const char *password)
{
    char uri[64], peer[64], err[256] = "";
    snprintf(uri, sizeof uri, "sip:127.0.0.1:%s", r->port);
    snprintf(peer, sizeof peer, "127.0.0.1:%s", r->port);
    struct sip_ua_config cfg = {
        .peer = peer, .local = "127.0.0.1", .user = "5551001", .password = password,
        .registrar = uri, .expires_s = 600,
    };
    struct sip_ua *ua;
    int rc = sip_ua_create(&ua, &cfg, err, sizeof err);
    if (rc != 0)
        fail_msg("sip_ua_create: %s", err);
    return ua;
}

static enum modem_line_reg wait_reg(struct sip_ua *ua, enum modem_line_reg until, struct modem_line_status *st,
                                    char *why, size_t whylen)
{
    for (int waited = 0; waited < WAIT_LIMIT_MS; waited += 10) {
        sip_ua_line_status(ua, st, why, whylen);
        if (st->reg == until)
            break;
        sleep_ms(10);
    }
    return st->reg;
}

static void test_granted_registration_is_usable_until_it_runs_out(void **state)
{
    (void)state;
    struct registrar r;
    registrar_start(&r, 200, "OK", 77);
    struct sip_ua *ua = agent_for(&r, NULL);
    struct modem_line_status st;
    char why[160];
    assert_int_equal(wait_reg(ua, MODEM_LINE_REG_REGISTERED, &st, why, sizeof why), MODEM_LINE_REG_REGISTERED);
    assert_true(st.usable);
    long long now = (long long)time(NULL);
    /* The lifetime the registrar granted (77 s), not the 600 s asked for. */
    assert_true(st.reg_expires >= now + 70 && st.reg_expires <= now + 77);
    char want[96];
    snprintf(want, sizeof want, "registered as sip:5551001@127.0.0.1:%s, expires in ", r.port);
    assert_non_null(strstr(st.text, want));
    assert_string_equal(why, "");
    assert_int_equal(atomic_load(&r.registers), 1);
    sip_ua_destroy(ua); /* un-REGISTERs */
    for (int i = 0; i < 100 && atomic_load(&r.registers) < 2; i++)
        sleep_ms(10);
    assert_int_equal(atomic_load(&r.registers), 2);
    registrar_stop(&r);
}

static atomic_int notices;

static void count_notice(void *user, const char *line)
{
    (void)user;
    if (strstr(line, "registered as sip:5551001@127.0.0.1:"))
        atomic_fetch_add(&notices, 1);
}

/* A registrar that grants 2 s: refreshed before it runs out (libre at
 * 90 %), registered all along, and logged once, not on every refresh. */
static void test_short_registration_is_refreshed_before_it_runs_out(void **state)
{
    (void)state;
    struct registrar r;
    registrar_start(&r, 200, "OK", 2);
    char uri[64], peer[64], err[256] = "";
    snprintf(uri, sizeof uri, "sip:127.0.0.1:%s", r.port);
    snprintf(peer, sizeof peer, "127.0.0.1:%s", r.port);
    atomic_store(&notices, 0);
    struct sip_ua_config cfg = {
        .peer = peer, .local = "127.0.0.1", .user = "5551001", .registrar = uri, .expires_s = 60,
        .notice = count_notice,
    };
    struct sip_ua *ua;
    if (sip_ua_create(&ua, &cfg, err, sizeof err) != 0)
        fail_msg("sip_ua_create: %s", err);
    struct modem_line_status st;
    for (int waited = 0; waited < WAIT_LIMIT_MS && atomic_load(&r.registers) < 4; waited += 10) {
        sip_ua_line_status(ua, &st, NULL, 0);
        if (atomic_load(&r.registers) >= 2) /* after the first grant, never unregistered */
            assert_int_equal(st.reg, MODEM_LINE_REG_REGISTERED);
        sleep_ms(10);
    }
    assert_true(atomic_load(&r.registers) >= 4);
    assert_int_equal(atomic_load(&notices), 1);
    sip_ua_destroy(ua);
    registrar_stop(&r);
}

static void test_refused_registration_fails_with_the_status_and_a_back_off(void **state)
{
    (void)state;
    struct registrar r;
    registrar_start(&r, 403, "Forbidden", 0);
    struct sip_ua *ua = agent_for(&r, "secret");
    struct modem_line_status st;
    char why[160];
    assert_int_equal(wait_reg(ua, MODEM_LINE_REG_FAILED, &st, why, sizeof why), MODEM_LINE_REG_FAILED);
    assert_false(st.usable);
    assert_true(st.reg_expires == 0);
    assert_string_equal(why, "registration failed: 403 Forbidden; check the line's user and password");
    /* The next try: 30 s with 80-120 % jitter (set once the old
     * registration is dropped, on the agent's next loop turn). */
    int next = -1;
    for (int i = 0; i < 100 && next < 0; i++) {
        sip_ua_line_status(ua, &st, NULL, 0);
        const char *p = strstr(st.text, "(next try in ");
        if (p && atoi(p + 13) > 0)
            next = atoi(p + 13);
        sleep_ms(10);
    }
    assert_true(next >= 23 && next <= 36);
    assert_non_null(strstr(st.text, "registration failed: 403 Forbidden"));
    assert_int_equal(atomic_load(&r.registers), 1); /* no storm */
    sip_ua_destroy(ua);
    registrar_stop(&r);
}

static void test_invite_answered_503_is_the_lines_failure(void **state)
{
    (void)state;
    struct registrar r;
    registrar_start(&r, 503, "Service Unavailable", 0);
    struct sip_ua *ua = agent_for(&r, NULL);
    struct sip_call *c;
    assert_int_equal(sip_ua_dial(ua, "5551002", &c), 0);
    int status = 0;
    enum sip_call_state s = SIP_CALL_CALLING;
    for (int waited = 0; waited < WAIT_LIMIT_MS && (s == SIP_CALL_CALLING || s == SIP_CALL_RINGING); waited += 10) {
        s = sip_call_state(c, &status);
        sleep_ms(10);
    }
    assert_int_equal(s, SIP_CALL_NO_LINE);
    assert_int_equal(status, 503);
    sip_call_release(c);
    sip_ua_destroy(ua);
    registrar_stop(&r);
}

static void test_agent_without_registrar_is_always_usable(void **state)
{
    (void)state;
    char err[256] = "";
    struct sip_ua_config cfg = { .peer = "127.0.0.1:5999", .local = "127.0.0.1" };
    struct sip_ua *ua;
    assert_int_equal(sip_ua_create(&ua, &cfg, err, sizeof err), 0);
    struct modem_line_status st;
    char why[160] = "x";
    sip_ua_line_status(ua, &st, why, sizeof why);
    assert_int_equal(st.reg, MODEM_LINE_REG_NONE);
    assert_true(st.usable);
    assert_string_equal(st.text, "");
    assert_string_equal(why, "");
    sip_ua_destroy(ua);
}

static void test_bad_registration_settings_are_refused_with_a_sentence(void **state)
{
    (void)state;
    static const struct {
        const char *registrar, *proxy;
        int keepalive;
        const char *says;
    } cases[] = {
        { "pbx.example", NULL, 0, "use sip:HOST or sip:HOST:PORT" },
        { "sip:fax@pbx.example", NULL, 0, "use sip:HOST or sip:HOST:PORT" },
        { "sip:127.0.0.1", "127.0.0.1", 0, "outbound proxy" },
        { NULL, NULL, 30, "keep-alive needs a registrar or an outbound proxy" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char err[256] = "";
        struct sip_ua_config cfg = {
            .peer = "127.0.0.1", .local = "127.0.0.1", .registrar = cases[i].registrar,
            .outbound_proxy = cases[i].proxy, .keepalive_s = cases[i].keepalive,
        };
        struct sip_ua *ua = NULL;
        assert_int_equal(sip_ua_create(&ua, &cfg, err, sizeof err), -EINVAL);
        assert_null(ua);
        if (!strstr(err, cases[i].says))
            fail_msg("case %zu: '%s' does not say '%s'", i, err, cases[i].says);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_granted_registration_is_usable_until_it_runs_out),
        cmocka_unit_test(test_short_registration_is_refreshed_before_it_runs_out),
        cmocka_unit_test(test_refused_registration_fails_with_the_status_and_a_back_off),
        cmocka_unit_test(test_invite_answered_503_is_the_lines_failure),
        cmocka_unit_test(test_agent_without_registrar_is_always_usable),
        cmocka_unit_test(test_bad_registration_settings_are_refused_with_a_sentence),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
