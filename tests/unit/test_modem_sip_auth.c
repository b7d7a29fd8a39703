/*
 * test_modem_sip_auth.c - digest authentication of outbound SIP calls
 * against a challenging peer: a libre user agent in this file answers
 * the first INVITE 401 (or 407), recomputes the MD5 digest of the
 * retried INVITE from the user, password, realm and nonce it knows, and
 * answers 200 when it matches. A wrong or missing password fails the
 * call once, with a sentence that names the fix, and no INVITE storm.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "modem/modem.h"
#include "modem/sip_sdp.h"
#include "modem/sip_ua.h"
#include "modem_testlib.h"

#include <re.h>

#define WAIT_LIMIT_MS 10000
#define CALL_TIMEOUT_S 30 /* a bound so a hang fails the test, not a timing check */
#define USER "4930123456"
#define PASSWORD "s3cret"
#define REALM "faxfs-test"
#define NUMBER "5551234"
#define PEER_SDP_MAX 2048

enum challenge { CHALLENGE_401, CHALLENGE_407 };
/* What the peer answers a retried INVITE whose digest does not match. */
enum on_bad_digest { BAD_DIGEST_403, BAD_DIGEST_CHALLENGE_AGAIN };

struct peer {
    enum challenge challenge;
    enum on_bad_digest on_bad;
    pthread_t thread;
    uint16_t port;

    pthread_mutex_t lock; /* protects the fields down to "peer thread only" */
    pthread_cond_t cond;
    bool started;
    int start_err;
    int invites;          /* new INVITEs (retransmissions are not counted) */
    bool header_seen;     /* the retry carried Authorization (401) / Proxy-Authorization (407) */
    bool digest_ok;
    char nonce[40];       /* the last nonce we issued */

    /* Peer thread only. */
    struct mqueue *mq;
    struct sip *sip;
    struct sipsess_sock *sock;
    struct sipsess *sess;
    int audio_fd;
    uint16_t audio_port;
};

/* RFC 2617 section 3.2.2: response = MD5(HA1:nonce[:nc:cnonce:qop]:HA2),
 * HA1 = MD5(user:realm:password), HA2 = MD5(method:uri). */
static bool digest_matches(const struct httpauth_digest_resp *r, const char *password)
{
    uint8_t ha1[MD5_SIZE], ha2[MD5_SIZE], want[MD5_SIZE];
    char hex[MD5_STR_SIZE];
    if (md5_printf(ha1, "%r:%r:%s", &r->username, &r->realm, password) != 0
        || md5_printf(ha2, "INVITE:%r", &r->uri) != 0)
        return false;
    int err = pl_isset(&r->qop) ? md5_printf(want, "%w:%r:%r:%r:%r:%w", ha1, sizeof ha1, &r->nonce, &r->nc,
                                             &r->cnonce, &r->qop, ha2, sizeof ha2)
                                : md5_printf(want, "%w:%r:%w", ha1, sizeof ha1, &r->nonce, ha2, sizeof ha2);
    if (err || re_snprintf(hex, sizeof hex, "%w", want, sizeof want) < 0)
        return false;
    return pl_strcasecmp(&r->response, hex) == 0;
}

static void peer_challenge(struct peer *p, const struct sip_msg *msg)
{
    bool www = p->challenge == CHALLENGE_401;
    pthread_mutex_lock(&p->lock);
    snprintf(p->nonce, sizeof p->nonce, "%08x%08x", rand_u32(), rand_u32());
    char nonce[40];
    snprintf(nonce, sizeof nonce, "%s", p->nonce);
    pthread_mutex_unlock(&p->lock);
    /* The 401 asks for qop=auth, the 407 for the plain RFC 2069 digest:
     * both forms of the response get checked. */
    (void)sip_treplyf(NULL, NULL, p->sip, msg, false, www ? 401 : 407,
                      www ? "Unauthorized" : "Proxy Authentication Required",
                      "%s: Digest realm=\"" REALM "\", nonce=\"%s\"%s, algorithm=MD5\r\n"
                      "Content-Length: 0\r\n\r\n",
                      www ? "WWW-Authenticate" : "Proxy-Authenticate", nonce, www ? ", qop=\"auth\"" : "");
}

/* Whether the retried INVITE carries a valid digest for our nonce. */
static bool peer_check(struct peer *p, const struct sip_msg *msg)
{
    const struct sip_hdr *h =
        sip_msg_hdr(msg, p->challenge == CHALLENGE_401 ? SIP_HDR_AUTHORIZATION : SIP_HDR_PROXY_AUTHORIZATION);
    struct httpauth_digest_resp r;
    if (!h || httpauth_digest_response_decode(&r, &h->val) != 0)
        return false;
    pthread_mutex_lock(&p->lock);
    p->header_seen = true;
    bool ok = pl_strcmp(&r.username, USER) == 0 && pl_strcmp(&r.realm, REALM) == 0
              && pl_strcmp(&r.nonce, p->nonce) == 0 && pl_cmp(&r.uri, &msg->ruri) == 0
              && digest_matches(&r, PASSWORD);
    p->digest_ok = ok;
    pthread_mutex_unlock(&p->lock);
    return ok;
}

static int peer_offer(struct mbuf **descp, const struct sip_msg *msg, void *arg)
{
    (void)descp;
    (void)msg;
    (void)arg;
    return EPROTONOSUPPORT; /* no re-INVITE expected: 488 */
}

static int peer_answer(const struct sip_msg *msg, void *arg)
{
    (void)msg;
    (void)arg;
    return 0;
}

static void peer_established(const struct sip_msg *msg, void *arg)
{
    (void)msg;
    (void)arg;
}

static void peer_closed(int err, const struct sip_msg *msg, void *arg)
{
    (void)err;
    (void)msg;
    struct peer *p = arg;
    p->sess = mem_deref(p->sess);
}

static void peer_accept(struct peer *p, const struct sip_msg *msg)
{
    struct sdp_prefs prefs = { .codecs = { SDP_PT_PCMU, SDP_PT_PCMA }, .ncodecs = 2 };
    struct sdp_session offer, answer;
    struct sdp_choice choice;
    char text[PEER_SDP_MAX];
    int n = -1;
    if (msg->mb && sdp_parse((const char *)mbuf_buf(msg->mb), mbuf_get_left(msg->mb), &offer) == 0
        && sdp_answer(&offer, &prefs, "127.0.0.1", false, p->audio_port, 0, &answer, &choice) == 0)
        n = sdp_write(text, sizeof text, &answer);
    struct mbuf *desc = n > 0 ? mbuf_alloc((size_t)n) : NULL;
    if (!desc) {
        (void)sip_treply(NULL, p->sip, msg, 488, "Not Acceptable Here");
        return;
    }
    mbuf_write_mem(desc, (const uint8_t *)text, (size_t)n);
    desc->pos = 0;
    if (sipsess_accept(&p->sess, p->sock, msg, 200, "OK", "peer", "application/sdp", desc, NULL, NULL, false,
                       peer_offer, peer_answer, peer_established, NULL, NULL, peer_closed, p, NULL)
        != 0)
        (void)sip_treply(NULL, p->sip, msg, 500, "Server Internal Error");
    mem_deref(desc);
}

/* Each new INVITE: the first is challenged, a retry is checked. */
static void peer_incoming(const struct sip_msg *msg, void *arg)
{
    struct peer *p = arg;
    pthread_mutex_lock(&p->lock);
    int n = ++p->invites;
    pthread_mutex_unlock(&p->lock);
    if (n == 1)
        peer_challenge(p, msg);
    else if (peer_check(p, msg))
        peer_accept(p, msg);
    else if (p->on_bad == BAD_DIGEST_CHALLENGE_AGAIN)
        peer_challenge(p, msg); /* a fresh nonce, not marked stale: the password is wrong */
    else
        (void)sip_treply(NULL, p->sip, msg, 403, "Forbidden");
}

static void peer_command(int id, void *data, void *arg)
{
    (void)id;
    (void)data;
    struct peer *p = arg;
    p->sess = mem_deref(p->sess);
    re_cancel();
}

static int peer_setup(struct peer *p)
{
    struct sa laddr, bound;
    int err = mqueue_alloc(&p->mq, peer_command, p);
    if (!err)
        err = sip_alloc(&p->sip, NULL, 32, 32, 32, "faxfs-test-peer", NULL, NULL);
    if (!err)
        err = sa_set_str(&laddr, "127.0.0.1", 0);
    if (!err)
        err = sip_transp_add(p->sip, SIP_TRANSP_UDP, &laddr);
    if (!err)
        err = sip_transp_laddr(p->sip, &bound, SIP_TRANSP_UDP, NULL);
    if (!err) {
        p->port = sa_port(&bound);
        err = sipsess_listen(&p->sock, p->sip, 32, peer_incoming, p);
    }
    return err;
}

static void *peer_main(void *arg)
{
    struct peer *p = arg;
    int err = re_thread_init();
    if (!err)
        err = peer_setup(p);
    pthread_mutex_lock(&p->lock);
    p->started = true;
    p->start_err = err;
    pthread_cond_broadcast(&p->cond);
    pthread_mutex_unlock(&p->lock);
    if (!err)
        re_main(NULL);
    p->sess = mem_deref(p->sess);
    p->sock = mem_deref(p->sock);
    if (p->sip)
        sip_close(p->sip, true);
    p->sip = mem_deref(p->sip);
    p->mq = mem_deref(p->mq);
    re_thread_close();
    return NULL;
}

static void peer_start(struct peer *p, enum challenge challenge, enum on_bad_digest on_bad)
{
    memset(p, 0, sizeof *p);
    p->challenge = challenge;
    p->on_bad = on_bad;
    p->audio_fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof a;
    assert_int_equal(bind(p->audio_fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(getsockname(p->audio_fd, (struct sockaddr *)&a, &len), 0);
    p->audio_port = ntohs(a.sin_port);
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->cond, NULL);
    assert_int_equal(pthread_create(&p->thread, NULL, peer_main, p), 0);
    pthread_mutex_lock(&p->lock);
    while (!p->started)
        pthread_cond_wait(&p->cond, &p->lock);
    int err = p->start_err;
    pthread_mutex_unlock(&p->lock);
    assert_int_equal(err, 0);
}

static void peer_stop(struct peer *p)
{
    assert_int_equal(mqueue_push(p->mq, 0, NULL), 0);
    pthread_join(p->thread, NULL);
    close(p->audio_fd);
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->cond);
}

static int peer_invites(struct peer *p)
{
    pthread_mutex_lock(&p->lock);
    int n = p->invites;
    pthread_mutex_unlock(&p->lock);
    return n;
}

static void sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

static enum sip_call_state wait_settled(struct sip_call *c, int *status)
{
    enum sip_call_state st = SIP_CALL_CALLING;
    for (int waited = 0; waited < WAIT_LIMIT_MS; waited += 10) {
        st = sip_call_state(c, status);
        if (st >= SIP_CALL_ANSWERED)
            return st;
        sleep_ms(10);
    }
    return st;
}

/* A user agent calling the peer with our user and the given password. */
static struct sip_ua *caller_for(const struct peer *p, const char *password)
{
    char peer[64], err[256] = "";
    snprintf(peer, sizeof peer, "127.0.0.1:%u", p->port);
    struct sip_ua_config cfg = { .peer = peer, .local = "127.0.0.1", .user = USER, .password = password };
    struct sip_ua *ua = NULL;
    int rc = sip_ua_create(&ua, &cfg, err, sizeof err);
    if (rc != 0)
        fprintf(stderr, "caller: %s\n", err);
    assert_int_equal(rc, 0);
    return ua;
}

static void assert_challenge_answered(enum challenge challenge)
{
    struct peer p;
    peer_start(&p, challenge, BAD_DIGEST_403);
    struct sip_ua *ua = caller_for(&p, PASSWORD);
    struct sip_call *c;
    assert_int_equal(sip_ua_dial(ua, NUMBER, &c), 0);
    int status = 0;
    assert_int_equal(wait_settled(c, &status), SIP_CALL_ANSWERED);
    assert_int_equal(sip_call_auth(c), SIP_AUTH_SENT);
    pthread_mutex_lock(&p.lock);
    assert_true(p.header_seen);
    assert_true(p.digest_ok);
    pthread_mutex_unlock(&p.lock);
    sip_call_release(c);
    sip_ua_destroy(ua);
    assert_int_equal(peer_invites(&p), 2);
    peer_stop(&p);
}

static void test_401_challenge_is_answered_with_a_valid_digest(void **state)
{
    (void)state;
    assert_challenge_answered(CHALLENGE_401);
}

static void test_407_challenge_is_answered_with_a_valid_proxy_digest(void **state)
{
    (void)state;
    assert_challenge_answered(CHALLENGE_407);
}

/* A fax job through a pool whose SIP line calls the peer: the result
 * the queue would record. */
static struct modem_result send_through_pool(const struct peer *p, const char *password)
{
    char *dir = test_tempdir();
    char page[PATH_MAX], line[64], err[256] = "";
    snprintf(page, sizeof page, "%s/page.tif", dir);
    assert_int_equal(test_write_page(page, 100, 3), 0);
    snprintf(line, sizeof line, "sip:127.0.0.1:%u", p->port);
    struct modem_pool_config cfg = {
        .channels = 1, .line_spec = line, .scratch_dir = dir, .workers = 1,
        .sip = { .user = USER, .password = password, .local = "127.0.0.1" },
    };
    struct modem_pool *pool;
    assert_int_equal(modem_pool_create(&pool, &cfg, err, sizeof err), 0);
    struct test_recorder rec;
    test_recorder_init(&rec);
    const char *pages[1] = { page };
    struct modem_send_request req = {
        .number = NUMBER, .page_paths = pages, .page_count = 1, .first_page_number = 1, .total_pages = 1,
    };
    assert_int_equal(modem_send(pool, 0, &req, &test_recorder_events, &rec), 0);
    assert_true(test_recorder_wait(&rec, CALL_TIMEOUT_S));
    modem_pool_destroy(pool); /* after this, nothing more can reach the peer */
    pthread_mutex_lock(&rec.lock);
    struct modem_result res = rec.result;
    pthread_mutex_unlock(&rec.lock);
    test_recorder_destroy(&rec);
    faxtest_rmtree(dir);
    free(dir);
    return res;
}

static void test_wrong_password_answered_403_fails_once_naming_the_credentials(void **state)
{
    (void)state;
    struct peer p;
    peer_start(&p, CHALLENGE_401, BAD_DIGEST_403);
    struct modem_result res = send_through_pool(&p, "not-the-password");
    assert_int_equal(res.outcome, MODEM_DROPPED);
    assert_string_equal(res.code, "line_failed");
    assert_non_null(strstr(res.text, "refused our credentials (403)"));
    assert_non_null(strstr(res.text, "--sip-password"));
    assert_int_equal(peer_invites(&p), 2);
    pthread_mutex_lock(&p.lock);
    assert_true(p.header_seen);
    assert_false(p.digest_ok);
    pthread_mutex_unlock(&p.lock);
    peer_stop(&p);
}

static void test_second_challenge_after_our_digest_fails_without_a_third_invite(void **state)
{
    (void)state;
    struct peer p;
    peer_start(&p, CHALLENGE_407, BAD_DIGEST_CHALLENGE_AGAIN);
    struct modem_result res = send_through_pool(&p, "not-the-password");
    assert_int_equal(res.outcome, MODEM_DROPPED);
    assert_string_equal(res.code, "line_failed");
    assert_non_null(strstr(res.text, "refused our credentials (407)"));
    assert_int_equal(peer_invites(&p), 2);
    peer_stop(&p);
}

static void test_challenge_without_a_password_fails_naming_the_password_option(void **state)
{
    (void)state;
    struct peer p;
    peer_start(&p, CHALLENGE_401, BAD_DIGEST_403);
    struct modem_result res = send_through_pool(&p, NULL);
    assert_int_equal(res.outcome, MODEM_DROPPED);
    assert_string_equal(res.code, "line_failed");
    assert_non_null(strstr(res.text, "asks for a password (401)"));
    assert_non_null(strstr(res.text, "--sip-password"));
    assert_int_equal(peer_invites(&p), 1);
    peer_stop(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_401_challenge_is_answered_with_a_valid_digest),
        cmocka_unit_test(test_407_challenge_is_answered_with_a_valid_proxy_digest),
        cmocka_unit_test(test_wrong_password_answered_403_fails_once_naming_the_credentials),
        cmocka_unit_test(test_second_challenge_after_our_digest_fails_without_a_third_invite),
        cmocka_unit_test(test_challenge_without_a_password_fails_naming_the_password_option),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
