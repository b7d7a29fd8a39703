/*
 * test_modem_sip_t38_switch.c - who asks for T.38 on a call faxfs
 * answers. A modem pool takes the call on its SIP listener; the caller is
 * a small libre user agent in this file with its own spandsp sender. It
 * never asks for T.38 (as Asterisk's SendFax), or asks at the moment the
 * pool does (glare: each side answers the other 491), or refuses T.38
 * with 488. The page must arrive, switched to T.38 exactly once, or on
 * G.711; each user agent records which side asked. Calls run at the
 * pace of a real line.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "modem/fax_engine.h"
#include "modem/modem.h"
#include "modem/sip_sdp.h"
#include "modem/sip_ua.h"
#include "modem/udptl.h"
#include "modem_testlib.h"

#include <re.h>

#define CALL_TIMEOUT_S 150 /* a bound so a hang fails the test, not a timing check */
#define NUMBER "5551000"
#define CALLER "5559876"
#define PEER_TICK_MS 20
#define PEER_SDP_MAX 2048
#define RTP_HEADER 12

/* What the calling peer does about T.38. */
enum peer_t38 {
    PEER_WAITS,   /* never asks; accepts the answerer's re-INVITE */
    PEER_GLARES,  /* on the answerer's first re-INVITE, sends its own and answers 491 */
    PEER_REFUSES, /* answers the answerer's re-INVITE 488: G.711 only */
};

struct peer {
    enum peer_t38 mode;
    char page[PATH_MAX];
    int faxfs_port;
    pthread_t thread;

    pthread_mutex_t lock; /* protects the fields down to "peer thread only" */
    pthread_cond_t cond;
    bool started;
    int start_err;
    int reinvites_in;        /* T.38 re-INVITEs the answerer sent us */
    int t38_agreements;      /* re-INVITE transactions (either side's) that agreed T.38 */
    int own_reinvite_status; /* final answer to our own re-INVITE; 0: none sent */
    bool t30_done;
    int t30_result;
    int pages_sent;
    bool broken;             /* the peer itself failed (out of memory, bad SDP) */

    /* Peer thread only. */
    struct mqueue *mq;
    struct sip *sip;
    struct sip_lsnr *lsnr;
    struct sipsess_sock *sock;
    struct sipsess *sess;
    struct sip_request *own_req;
    struct sdp_prefs prefs;
    struct sdp_session local;
    int audio_fd, image_fd;
    uint16_t audio_port, image_port;
    struct sockaddr_in audio_dst, image_dst;
    bool media_up, on_t38, glared;
    bool t30_done_seen;      /* t30_done, without the lock */
    struct fax_engine eng;
    struct udptl_tx utx;
    struct udptl_rx urx;
    uint16_t rtp_seq;
    uint32_t rtp_ts;
    struct tmr tick_tmr;
    uint64_t next_tick;
};

/* ---- the peer's media: a spandsp sender over RTP, then UDPTL ---- */

static int udp_socket(uint16_t *port)
{
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || getsockname(fd, (struct sockaddr *)&a, &len) != 0)
        return -1;
    *port = ntohs(a.sin_port);
    return fd;
}

static void set_dst(struct sockaddr_in *dst, const struct sdp_choice *c)
{
    memset(dst, 0, sizeof *dst);
    dst->sin_family = AF_INET;
    dst->sin_port = htons(c->port);
    inet_pton(AF_INET, c->addr, &dst->sin_addr);
}

static void peer_phase_e(t30_state_t *t30, void *user, int result)
{
    struct peer *p = user;
    t30_stats_t st;
    t30_get_transfer_statistics(t30, &st);
    p->t30_done_seen = true;
    pthread_mutex_lock(&p->lock);
    p->t30_done = true;
    p->t30_result = result;
    p->pages_sent = st.pages_tx;
    pthread_cond_broadcast(&p->cond);
    pthread_mutex_unlock(&p->lock);
}

static void peer_send_ifp(void *user, const uint8_t *ifp, int len)
{
    struct peer *p = user;
    uint8_t pkt[1500];
    int n = udptl_tx_packet(&p->utx, ifp, (size_t)len, pkt, sizeof pkt);
    if (n > 0)
        (void)sendto(p->image_fd, pkt, (size_t)n, 0, (struct sockaddr *)&p->image_dst, sizeof p->image_dst);
}

/* cmocka's asserts belong to the test's thread: the peer's thread
 * records its own failures instead. */
static void peer_broken(struct peer *p)
{
    pthread_mutex_lock(&p->lock);
    p->broken = true;
    pthread_mutex_unlock(&p->lock);
}

static void peer_start_t30(struct peer *p, enum line_media kind)
{
    fax_engine_free(&p->eng);
    if (fax_engine_start(&p->eng, kind, true, peer_send_ifp, p) != 0) {
        peer_broken(p);
        return;
    }
    t30_state_t *t30 = p->eng.t30;
    t30_set_tx_ident(t30, "PEER");
    t30_set_ecm_capability(t30, 1);
    t30_set_supported_compressions(t30, T30_SUPPORT_T4_1D_COMPRESSION | T30_SUPPORT_T4_2D_COMPRESSION
                                            | T30_SUPPORT_T6_COMPRESSION);
    t30_set_supported_modems(t30, T30_SUPPORT_V27TER | T30_SUPPORT_V29 | T30_SUPPORT_V17);
    t30_set_tx_file(t30, p->page, -1, -1);
    t30_set_phase_e_handler(t30, peer_phase_e, p);
}

/* A re-INVITE (ours or theirs) agreed on T.38: T.30 starts over there. */
static void peer_switch_to_t38(struct peer *p, const struct sdp_choice *c)
{
    pthread_mutex_lock(&p->lock);
    p->t38_agreements++;
    pthread_mutex_unlock(&p->lock);
    if (p->on_t38)
        return;
    p->on_t38 = true;
    set_dst(&p->image_dst, c);
    udptl_tx_init(&p->utx, 3, c->t38.max_datagram > 0 ? (size_t)c->t38.max_datagram : UDPTL_DEFAULT_MAX_DATAGRAM);
    udptl_rx_init(&p->urx);
    peer_start_t30(p, LINE_MEDIA_T38);
}

static void peer_ifp_in(void *user, const uint8_t *ifp, size_t len, uint16_t seq)
{
    fax_engine_rx_ifp(&((struct peer *)user)->eng, ifp, (int)len, seq);
}

static void peer_audio_tick(struct peer *p)
{
    uint8_t buf[1500];
    ssize_t n;
    while ((n = recv(p->audio_fd, buf, sizeof buf, 0)) > RTP_HEADER) {
        int16_t pcm[1500];
        int pt = buf[1] & 0x7f, len = (int)n - RTP_HEADER;
        for (int i = 0; i < len; i++)
            pcm[i] = pt == SDP_PT_PCMA ? alaw_to_linear(buf[RTP_HEADER + i]) : ulaw_to_linear(buf[RTP_HEADER + i]);
        fax_engine_rx_audio(&p->eng, pcm, len);
    }
    int16_t tx[LINE_BLOCK];
    fax_engine_tx_audio(&p->eng, tx, LINE_BLOCK);
    uint8_t pkt[RTP_HEADER + LINE_BLOCK] = { 0x80, SDP_PT_PCMU };
    pkt[2] = (uint8_t)(p->rtp_seq >> 8);
    pkt[3] = (uint8_t)p->rtp_seq;
    for (int i = 0; i < 4; i++)
        pkt[4 + i] = (uint8_t)(p->rtp_ts >> (24 - 8 * i));
    pkt[8] = 0x5e; /* SSRC: any constant */
    for (int i = 0; i < LINE_BLOCK; i++)
        pkt[RTP_HEADER + i] = linear_to_ulaw(tx[i]);
    (void)sendto(p->audio_fd, pkt, sizeof pkt, 0, (struct sockaddr *)&p->audio_dst, sizeof p->audio_dst);
    p->rtp_seq++;
    p->rtp_ts += LINE_BLOCK;
}

static void peer_t38_tick(struct peer *p)
{
    uint8_t buf[1500];
    ssize_t n;
    while ((n = recv(p->image_fd, buf, sizeof buf, 0)) > 0)
        udptl_rx_packet(&p->urx, buf, (size_t)n, peer_ifp_in, p);
    while (recv(p->audio_fd, buf, sizeof buf, 0) > 0)
        ; /* audio after the switch is stray */
    fax_engine_tick(&p->eng, LINE_BLOCK);
}

/* Every 20 ms of wall clock, on a fixed schedule (no drift). */
static void peer_tick(void *arg)
{
    struct peer *p = arg;
    if (p->on_t38)
        peer_t38_tick(p);
    else
        peer_audio_tick(p);
    p->next_tick += PEER_TICK_MS;
    uint64_t now = tmr_jiffies();
    tmr_start(&p->tick_tmr, p->next_tick > now ? p->next_tick - now : 0, peer_tick, p);
}

/* ---- the peer's signalling ---- */

static int peer_sdp_mbuf(struct mbuf **out, const struct sdp_session *s)
{
    char text[PEER_SDP_MAX];
    int n = sdp_write(text, sizeof text, s);
    if (n < 0)
        return ENOSPC;
    *out = mbuf_alloc((size_t)n);
    if (!*out)
        return ENOMEM;
    mbuf_write_mem(*out, (const uint8_t *)text, (size_t)n);
    (*out)->pos = 0;
    return 0;
}

static int peer_sdp_of(const struct sip_msg *msg, struct sdp_session *s)
{
    if (!msg->mb || mbuf_get_left(msg->mb) == 0)
        return EBADMSG;
    return sdp_parse((const char *)mbuf_buf(msg->mb), mbuf_get_left(msg->mb), s) == 0 ? 0 : EBADMSG;
}

/* The answerer's re-INVITE, when the peer lets libre take it. */
static int peer_offer(struct mbuf **descp, const struct sip_msg *msg, void *arg)
{
    struct peer *p = arg;
    struct sdp_session offer;
    struct sdp_choice choice;
    if (peer_sdp_of(msg, &offer) != 0)
        return EBADMSG;
    pthread_mutex_lock(&p->lock);
    p->reinvites_in++;
    pthread_mutex_unlock(&p->lock);
    if (sdp_answer(&offer, &p->prefs, "127.0.0.1", false, p->audio_port, p->image_port, &p->local, &choice) != 0)
        return EPROTONOSUPPORT; /* libre answers 488 */
    int err = peer_sdp_mbuf(descp, &p->local);
    if (!err && choice.kind == SDP_CHOICE_T38)
        peer_switch_to_t38(p, &choice);
    return err;
}

static int peer_answer(const struct sip_msg *msg, void *arg)
{
    struct peer *p = arg;
    struct sdp_session answer;
    struct sdp_choice choice;
    if (peer_sdp_of(msg, &answer) != 0 || sdp_accepted(&answer, &p->prefs, &choice) != 0)
        return EPROTONOSUPPORT;
    set_dst(&p->audio_dst, &choice);
    if (!p->media_up) {
        p->media_up = true;
        peer_start_t30(p, LINE_MEDIA_AUDIO);
        p->next_tick = tmr_jiffies();
        peer_tick(p);
    }
    return 0;
}

static void peer_progress(const struct sip_msg *msg, void *arg)
{
    (void)msg;
    (void)arg;
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
    tmr_cancel(&p->tick_tmr);
    p->sess = mem_deref(p->sess);
    /* The answerer may hang up before our last tick: T.30 concludes with
     * what it has, as on a real line. */
    if (p->eng.t30 && !p->t30_done_seen)
        t30_terminate(p->eng.t30);
}

static int peer_contact(enum sip_transp tp, const struct sa *src, const struct sa *dst, struct mbuf *mb, void *arg)
{
    (void)dst;
    (void)arg;
    struct sip_contact contact;
    sip_contact_set(&contact, "peer", src, tp);
    return mbuf_printf(mb, "%H", sip_contact_print, &contact);
}

/* Our own re-INVITE's answer. A 491 is not retried: RFC 3261 14.1 has
 * the Call-ID's owner (us, the caller) wait longest, so the answerer's
 * retry must come first, and this test checks that it does. */
static void peer_own_reinvite_answered(int err, const struct sip_msg *msg, void *arg)
{
    struct peer *p = arg;
    if (!err && msg && msg->scode < 200)
        return;
    p->own_req = NULL;
    pthread_mutex_lock(&p->lock);
    p->own_reinvite_status = err || !msg ? -1 : msg->scode;
    pthread_mutex_unlock(&p->lock);
    if (err || !msg || msg->scode >= 300)
        return;
    (void)sip_drequestf(NULL, p->sip, false, "ACK", sipsess_dialog(p->sess), msg->cseq.num, NULL, peer_contact,
                        NULL, NULL, "Content-Length: 0\r\n\r\n");
    struct sdp_session answer;
    struct sdp_choice choice;
    if (peer_sdp_of(msg, &answer) == 0 && sdp_accepted(&answer, &p->prefs, &choice) == 0
        && choice.kind == SDP_CHOICE_T38)
        peer_switch_to_t38(p, &choice);
}

static void peer_send_own_reinvite(struct peer *p)
{
    char text[PEER_SDP_MAX];
    struct sdp_session offer = p->local;
    sdp_local_t38(&offer, &p->prefs, "127.0.0.1", false, p->image_port);
    int n = sdp_write(text, sizeof text, &offer);
    if (n <= 0
        || sip_drequestf(&p->own_req, p->sip, true, "INVITE", sipsess_dialog(p->sess), 0, NULL, peer_contact,
                         peer_own_reinvite_answered, p,
                         "Content-Type: application/sdp\r\nContent-Length: %d\r\n\r\n%b", n, text, (size_t)n)
               != 0) {
        peer_broken(p);
        return;
    }
    p->local = offer;
}

/* Sees requests before libre's session layer: the glaring peer's first
 * re-INVITE from the answerer crosses its own on the wire. */
static bool peer_request(const struct sip_msg *msg, void *arg)
{
    struct peer *p = arg;
    if (p->mode != PEER_GLARES || p->glared || !p->sess || pl_strcmp(&msg->met, "INVITE") != 0
        || !pl_isset(&msg->to.tag))
        return false;
    p->glared = true;
    pthread_mutex_lock(&p->lock);
    p->reinvites_in++;
    pthread_mutex_unlock(&p->lock);
    peer_send_own_reinvite(p);
    (void)sip_treply(NULL, p->sip, msg, 491, "Request Pending");
    return true;
}

static int peer_dial(struct peer *p)
{
    char to[128], from[128];
    struct mbuf *desc = NULL;
    snprintf(to, sizeof to, "sip:%s@127.0.0.1:%d", NUMBER, p->faxfs_port);
    snprintf(from, sizeof from, "sip:%s@127.0.0.1", CALLER);
    sdp_local_audio(&p->local, &p->prefs, "127.0.0.1", false, p->audio_port);
    int err = peer_sdp_mbuf(&desc, &p->local);
    if (!err)
        err = sipsess_connect(&p->sess, p->sock, to, NULL, from, "peer", NULL, 0, "application/sdp", desc, NULL, NULL,
                              false, peer_offer, peer_answer, peer_progress, peer_established, NULL, NULL,
                              peer_closed, p, NULL);
    mem_deref(desc);
    return err;
}

static void peer_command(int id, void *data, void *arg)
{
    (void)id;
    (void)data;
    struct peer *p = arg;
    tmr_cancel(&p->tick_tmr);
    p->own_req = mem_deref(p->own_req);
    p->sess = mem_deref(p->sess);
    re_cancel();
}

static int peer_setup(struct peer *p)
{
    struct sa laddr;
    int err = mqueue_alloc(&p->mq, peer_command, p);
    if (!err)
        err = sip_alloc(&p->sip, NULL, 32, 32, 32, "faxfs-test-peer", NULL, NULL);
    if (!err)
        err = sa_set_str(&laddr, "127.0.0.1", 0);
    if (!err)
        err = sip_transp_add(p->sip, SIP_TRANSP_UDP, &laddr);
    if (!err)
        err = sip_listen(&p->lsnr, p->sip, true, peer_request, p);
    if (!err)
        err = sipsess_listen(&p->sock, p->sip, 32, NULL, NULL);
    if (!err)
        err = peer_dial(p);
    return err;
}

static void *peer_main(void *arg)
{
    struct peer *p = arg;
    tmr_init(&p->tick_tmr);
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
    tmr_cancel(&p->tick_tmr);
    p->own_req = mem_deref(p->own_req);
    p->sess = mem_deref(p->sess);
    p->sock = mem_deref(p->sock);
    p->lsnr = mem_deref(p->lsnr);
    if (p->sip)
        sip_close(p->sip, true);
    p->sip = mem_deref(p->sip);
    p->mq = mem_deref(p->mq);
    re_thread_close();
    fax_engine_free(&p->eng);
    return NULL;
}

static void peer_start(struct peer *p, enum peer_t38 mode, const char *page, int faxfs_port)
{
    memset(p, 0, sizeof *p);
    p->mode = mode;
    snprintf(p->page, sizeof p->page, "%s", page);
    p->faxfs_port = faxfs_port;
    p->prefs = (struct sdp_prefs){ .codecs = { SDP_PT_PCMU }, .ncodecs = 1, .t38 = mode != PEER_REFUSES,
                                   .max_datagram = 400 };
    p->audio_fd = udp_socket(&p->audio_port);
    p->image_fd = udp_socket(&p->image_port);
    assert_true(p->audio_fd >= 0 && p->image_fd >= 0);
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
    if (!p->thread)
        return;
    assert_int_equal(mqueue_push(p->mq, 0, NULL), 0);
    pthread_join(p->thread, NULL);
    p->thread = 0;
    close(p->audio_fd);
    close(p->image_fd);
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->cond);
}

/* Waits (bounded) for the peer's sender to reach phase E. */
static bool peer_wait_t30(struct peer *p, int timeout_s)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += timeout_s;
    pthread_mutex_lock(&p->lock);
    while (!p->t30_done && pthread_cond_timedwait(&p->cond, &p->lock, &until) == 0)
        ;
    bool done = p->t30_done;
    pthread_mutex_unlock(&p->lock);
    return done;
}

/* ---- the answering pool ---- */

struct fixture {
    char *dir;
    char rx_dir[PATH_MAX];
    char page[PATH_MAX];
    const char *page_ptrs[1];
    struct modem_pool *receiver;
    struct test_inbound in;
    struct peer peer;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    f->dir = test_tempdir();
    snprintf(f->rx_dir, sizeof f->rx_dir, "%s/rx", f->dir);
    mkdir(f->rx_dir, 0755);
    snprintf(f->page, sizeof f->page, "%s/page.tif", f->dir);
    if (test_write_page(f->page, 300, 7) != 0)
        return -1;
    f->page_ptrs[0] = f->page;
    test_inbound_init(&f->in, f->rx_dir);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    peer_stop(&f->peer);
    modem_pool_destroy(f->receiver);
    test_inbound_destroy(&f->in);
    faxtest_rmtree(f->dir);
    free(f->dir);
    free(f);
    return 0;
}

/* The pool answers with T.38 on; the peer calls it. */
static void call_the_pool(struct fixture *f, enum peer_t38 mode)
{
    char err[256] = "";
    struct modem_pool_config cfg = {
        .channels = 1, .line_spec = "sim", .sim_dir = f->dir, .scratch_dir = f->dir, .workers = 1, .tsid = "FAXFS B",
        .inbound = &test_inbound_ops, .inbound_ctx = &f->in, .listen_spec = "sip:127.0.0.1:0",
    };
    int rc = modem_pool_create(&f->receiver, &cfg, err, sizeof err);
    if (rc != 0)
        fprintf(stderr, "receiver: %s\n", err);
    assert_int_equal(rc, 0);
    peer_start(&f->peer, mode, f->page, modem_pool_sip_port(f->receiver));
    assert_true(test_inbound_wait_finished(&f->in, CALL_TIMEOUT_S));
    assert_true(peer_wait_t30(&f->peer, CALL_TIMEOUT_S));
}

/* What the peer saw, copied under its lock. */
struct peer_seen {
    int reinvites_in, t38_agreements, own_reinvite_status, t30_result, pages_sent;
    bool broken;
};

static struct peer_seen peer_seen(struct peer *p)
{
    pthread_mutex_lock(&p->lock);
    struct peer_seen s = {
        .reinvites_in = p->reinvites_in, .t38_agreements = p->t38_agreements,
        .own_reinvite_status = p->own_reinvite_status, .t30_result = p->t30_result, .pages_sent = p->pages_sent,
        .broken = p->broken,
    };
    pthread_mutex_unlock(&p->lock);
    return s;
}

/* The page arrived whole, over the given transport, at both ends. */
static void assert_page_arrived(struct fixture *f, const char *transport)
{
    pthread_mutex_lock(&f->in.lock);
    struct modem_rx_result got = f->in.result;
    int pages = f->in.pages;
    pthread_mutex_unlock(&f->in.lock);
    if (got.outcome != MODEM_OK)
        fprintf(stderr, "receiver: %s (%s)\n", got.code, got.text);
    assert_int_equal(got.outcome, MODEM_OK);
    assert_int_equal(pages, 1);
    assert_string_equal(got.transport, transport);
    assert_string_equal(got.remote_id, "PEER");
    struct peer_seen seen = peer_seen(&f->peer);
    assert_false(seen.broken);
    assert_int_equal(seen.t30_result, T30_ERR_OK);
    assert_int_equal(seen.pages_sent, 1);
    char path[PATH_MAX];
    test_inbound_page_path(&f->in, 1, path, sizeof path);
    assert_int_equal(test_pages_match(path, f->page_ptrs, 1), 1);
}

static void test_answerer_switches_a_caller_that_never_asks_to_t38(void **state)
{
    struct fixture *f = *state;
    f->in.watch_log = "the call switched to";
    call_the_pool(f, PEER_WAITS);
    assert_page_arrived(f, "t38");
    assert_string_equal(f->in.watched_log, "the call switched to T.38 (faxfs asked)");
    struct peer_seen seen = peer_seen(&f->peer);
    assert_int_equal(seen.reinvites_in, 1);
    assert_int_equal(seen.own_reinvite_status, 0);
    assert_int_equal(seen.t38_agreements, 1);
}

static void test_crossed_t38_reinvites_end_on_t38_exactly_once(void **state)
{
    struct fixture *f = *state;
    call_the_pool(f, PEER_GLARES);
    assert_page_arrived(f, "t38");
    struct peer_seen seen = peer_seen(&f->peer);
    /* Our re-INVITE met the answerer's: it answered 491 as we did... */
    assert_int_equal(seen.own_reinvite_status, 491);
    /* ...and then asked again, before the caller's longer wait was over. */
    assert_int_equal(seen.reinvites_in, 2);
    assert_int_equal(seen.t38_agreements, 1);
}

static void test_caller_refusing_the_answerers_t38_keeps_the_fax_on_g711(void **state)
{
    struct fixture *f = *state;
    f->in.watch_log = "the call switched to";
    call_the_pool(f, PEER_REFUSES);
    assert_page_arrived(f, "g711");
    assert_string_equal(f->in.watched_log, ""); /* it never did */
    struct peer_seen seen = peer_seen(&f->peer);
    assert_int_equal(seen.reinvites_in, 1);
    assert_int_equal(seen.t38_agreements, 0);
}

/* ---- the record of who asked, at the user agents' level ---- */

static int take_call(void *user, struct sip_call *call, const char *caller_id)
{
    (void)caller_id;
    atomic_store((_Atomic(struct sip_call *) *)user, call);
    return 0;
}

static void sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

static enum sip_t38_state wait_t38_settled(struct sip_call *c)
{
    enum sip_t38_state t = SIP_T38_NONE;
    for (int waited = 0; waited < 10000; waited += 10) {
        sip_call_media(c, NULL, &t);
        if (t == SIP_T38_ACTIVE || t == SIP_T38_REFUSED)
            return t;
        sleep_ms(10);
    }
    return t;
}

static void test_both_sides_record_that_the_answerer_asked(void **state)
{
    (void)state;
    char err[256] = "", peer[64];
    _Atomic(struct sip_call *) taken = NULL;
    struct sip_ua *callee, *caller;
    struct sip_ua_config cb = { .local = "127.0.0.1:0", .t38 = true, .incoming = take_call, .user_data = &taken };
    assert_int_equal(sip_ua_create(&callee, &cb, err, sizeof err), 0);
    snprintf(peer, sizeof peer, "127.0.0.1:%u", sip_ua_port(callee));
    struct sip_ua_config ca = { .peer = peer, .local = "127.0.0.1", .t38 = true };
    assert_int_equal(sip_ua_create(&caller, &ca, err, sizeof err), 0);
    struct sip_call *out;
    assert_int_equal(sip_ua_dial(caller, NUMBER, &out), 0);
    struct sip_call *in = NULL;
    for (int waited = 0; waited < 10000 && !in; waited += 10) {
        in = atomic_load(&taken);
        sleep_ms(10);
    }
    assert_non_null(in);
    assert_true(sip_call_t38_allowed(in));
    assert_int_equal(sip_call_t38_origin(in), SIP_T38_BY_NOBODY);
    sip_call_request_t38(in);
    assert_int_equal(wait_t38_settled(in), SIP_T38_ACTIVE);
    assert_int_equal(wait_t38_settled(out), SIP_T38_ACTIVE);
    assert_int_equal(sip_call_t38_origin(in), SIP_T38_BY_US);
    assert_int_equal(sip_call_t38_origin(out), SIP_T38_BY_PEER);
    sip_call_release(out);
    sip_call_release(in);
    sip_ua_destroy(caller);
    sip_ua_destroy(callee);
}

int main(int argc, char **argv)
{
    if (argc > 1)
        cmocka_set_test_filter(argv[1]); /* e.g. "*glare*" */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_both_sides_record_that_the_answerer_asked),
        cmocka_unit_test_setup_teardown(test_answerer_switches_a_caller_that_never_asks_to_t38, setup, teardown),
        cmocka_unit_test_setup_teardown(test_crossed_t38_reinvites_end_on_t38_exactly_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_caller_refusing_the_answerers_t38_keeps_the_fax_on_g711, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
