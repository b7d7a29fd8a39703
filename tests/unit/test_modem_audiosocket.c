/*
 * test_modem_audiosocket.c - inbound calls over the AudioSocket listener,
 * with the far end built here: a client thread that connects, sends the
 * call UUID and then plays a fax sender (or a hostile remote) over
 * AudioSocket frames. Most tests run unpaced (the client drives the
 * clock, so spandsp's timers run at CPU speed); one runs at the real
 * 20 ms pace Asterisk needs. Whatever the remote does, the server must
 * not crash and every call must end with a truthful result.
 */
#define SPANDSP_EXPOSE_INTERNAL_STRUCTURES /* the hostile sender rewrites its own HDLC frames */
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
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>
#include <arpa/inet.h>

#include <cmocka.h>
#include <tiffio.h>
#include <spandsp.h>

#include "modem/audiosocket.h"
#include "modem/modem.h"
#include "modem/tiff_join.h"
#include "modem_testlib.h"

#define CALL_TIMEOUT_S 180   /* bounds so a hang fails the test, not timing checks */
#define CLIENT_MAX_BLOCKS (900 * 50) /* 15 minutes of line time, far past every timer */
#define MAX_PAGES 3
#define REAL_TIME_PAGE_ROWS 100 /* the page of the real-time call (the others: 500) */
#define SENDER_TSID "AUDIOSOCKET SENDER"

enum remote {
    REMOTE_FAX,              /* a well-behaved fax sender */
    REMOTE_HANG_UP_IN_PAGE_2,/* closes the connection while sending page 2 */
    REMOTE_SILENCE,          /* answers with silence forever */
    REMOTE_NOISE,            /* white noise forever */
    REMOTE_DEAF,             /* a sender that never hears us: no T.30 exchange */
    REMOTE_SHORT_FCD_ONCE,   /* the first ECM data frame cut to 3 bytes (good CRC) */
    REMOTE_SHORT_FCD_ALWAYS, /* every ECM data frame cut to 3 bytes */
    REMOTE_GARBAGE_FRAMES,   /* every control frame replaced by random bytes */
};

struct client {
    int port;
    enum remote remote;
    bool paced;               /* answer our frames instead of driving the clock */
    const char *tx_file;
    pthread_t thread;
    /* the sender's own view, when it has one */
    fax_state_t *fax;
    t30_send_hdlc_handler_t *send_hdlc;
    void *send_hdlc_user;
    bool t30_done;
    int pages_tx;
    int frames_mangled;
    bool we_hung_up;          /* the server sent hang-up or closed */
    unsigned seed;
};

struct fixture {
    char *dir;
    char rx_dir[PATH_MAX];
    char pages[MAX_PAGES][PATH_MAX];
    const char *page_ptrs[MAX_PAGES];
    char tx_file[PATH_MAX];
    struct modem_pool *pool;
    struct test_inbound in;
    int max_pages;           /* receive_max_pages of the pool; 0: default */
    long long max_bytes;     /* receive_max_bytes of the pool; 0: default */
    const char *allow;       /* audiosocket_allow of the pool; NULL: default */
};

/* ---- the far end -------------------------------------------------------- */

static void client_phase_e(t30_state_t *t30, void *user, int code)
{
    (void)code;
    struct client *c = user;
    t30_stats_t st;
    t30_get_transfer_statistics(t30, &st);
    c->pages_tx = st.pages_tx;
    c->t30_done = true;
}

static int client_phase_d(t30_state_t *t30, void *user, int result)
{
    (void)result;
    struct client *c = user;
    t30_stats_t st;
    t30_get_transfer_statistics(t30, &st);
    c->pages_tx = st.pages_tx;
    return T30_ERR_OK;
}

/* Sits between the sender's T.30 and its HDLC transmitter. */
static void client_send_hdlc(void *user, const uint8_t *msg, int len)
{
    struct client *c = user;
    bool fcd = msg && len > 3 && msg[2] == T4_FCD;
    if (fcd && (c->remote == REMOTE_SHORT_FCD_ALWAYS || (c->remote == REMOTE_SHORT_FCD_ONCE && c->frames_mangled == 0))) {
        c->frames_mangled++;
        c->send_hdlc(c->send_hdlc_user, msg, 3); /* address, control, FCF: no frame number, no data */
        return;
    }
    if (c->remote == REMOTE_GARBAGE_FRAMES && msg && len >= 3 && !fcd) {
        uint8_t junk[64];
        int n = 3 + (int)(rand_r(&c->seed) % 40);
        for (int i = 0; i < n; i++)
            junk[i] = (uint8_t)rand_r(&c->seed);
        junk[0] = 0xff; /* a plausible address, so T.30 looks further */
        c->frames_mangled++;
        c->send_hdlc(c->send_hdlc_user, junk, n);
        return;
    }
    c->send_hdlc(c->send_hdlc_user, msg, len);
}

static void client_start_sender(struct client *c)
{
    c->fax = fax_init(NULL, 1);
    fax_set_transmit_on_idle(c->fax, 1);
    t30_state_t *t30 = fax_get_t30_state(c->fax);
    t30_set_tx_ident(t30, SENDER_TSID);
    t30_set_ecm_capability(t30, 1);
    t30_set_supported_compressions(t30, T30_SUPPORT_T4_1D_COMPRESSION | T30_SUPPORT_T4_2D_COMPRESSION
                                            | T30_SUPPORT_T6_COMPRESSION);
    t30_set_tx_file(t30, c->tx_file, -1, -1);
    t30_set_phase_d_handler(t30, client_phase_d, c);
    t30_set_phase_e_handler(t30, client_phase_e, c);
    c->send_hdlc = t30->send_hdlc_handler;
    c->send_hdlc_user = t30->send_hdlc_user_data;
    t30->send_hdlc_handler = client_send_hdlc;
    t30->send_hdlc_user_data = c;
}

static bool send_all(int fd, const void *buf, size_t len)
{
    const uint8_t *p = buf;
    while (len > 0) {
        ssize_t w = send(fd, p, len, MSG_NOSIGNAL);
        if (w <= 0)
            return false;
        p += w;
        len -= (size_t)w;
    }
    return true;
}

static bool recv_all(int fd, void *buf, size_t len)
{
    uint8_t *p = buf;
    while (len > 0) {
        ssize_t r = recv(fd, p, len, 0);
        if (r <= 0)
            return false;
        p += r;
        len -= (size_t)r;
    }
    return true;
}

/* One write per frame, as Asterisk does: a header alone would sit in
 * Nagle's buffer waiting for an acknowledgement. */
static bool send_frame(int fd, uint8_t type, const void *payload, uint16_t len)
{
    uint8_t frame[AS_HEADER_LEN + AS_MAX_AUDIO];
    if (len > AS_MAX_AUDIO)
        return false;
    as_put_header(frame, type, len);
    if (len > 0)
        memcpy(frame + AS_HEADER_LEN, payload, len);
    return send_all(fd, frame, AS_HEADER_LEN + (size_t)len);
}

static bool send_audio(int fd, const int16_t *s, int n)
{
    uint8_t pcm[2 * 160];
    for (int i = 0; i < n; i++) {
        pcm[2 * i] = (uint8_t)((uint16_t)s[i] & 0xff);
        pcm[2 * i + 1] = (uint8_t)((uint16_t)s[i] >> 8);
    }
    return send_frame(fd, AS_TYPE_AUDIO, pcm, (uint16_t)(2 * n));
}

/* Reads our frames until n samples arrived; false when we hung up. */
static bool recv_audio(struct client *c, int fd, int16_t *out, int n)
{
    static _Thread_local int16_t spill[AS_MAX_AUDIO / 2];
    static _Thread_local int spill_len;
    int have = 0;
    while (have < n) {
        if (spill_len > 0) {
            int take = spill_len < n - have ? spill_len : n - have;
            memcpy(out + have, spill, sizeof(int16_t) * (size_t)take);
            memmove(spill, spill + take, sizeof(int16_t) * (size_t)(spill_len - take));
            spill_len -= take;
            have += take;
            continue;
        }
        uint8_t hdr[AS_HEADER_LEN], payload[AS_MAX_AUDIO];
        if (!recv_all(fd, hdr, sizeof hdr)) {
            c->we_hung_up = true;
            return false;
        }
        uint16_t len = (uint16_t)(hdr[1] << 8 | hdr[2]);
        if (len > sizeof payload || !recv_all(fd, payload, len) || hdr[0] != AS_TYPE_AUDIO) {
            c->we_hung_up = true;
            return false;
        }
        for (int i = 0; i + 1 < len; i += 2)
            spill[spill_len++] = (int16_t)(uint16_t)(payload[i] | payload[i + 1] << 8);
    }
    return true;
}

static int client_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct timeval tv = { 20, 0 }; /* a bound: a stuck server fails the test */
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static const uint8_t test_uuid[AS_UUID_LEN] = { 0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0,
                                                0x0f, 0xed, 0xcb, 0xa9, 0x87, 0x65, 0x43, 0x21 };

/* What the remote transmits in one 20 ms block. */
static void client_tx(struct client *c, int16_t *tx)
{
    memset(tx, 0, sizeof(int16_t) * 160);
    if (c->remote == REMOTE_NOISE) {
        for (int i = 0; i < 160; i++)
            tx[i] = (int16_t)((int)(rand_r(&c->seed) % 16000) - 8000);
    } else if (c->fax && !c->t30_done) {
        fax_tx(c->fax, tx, 160);
    }
}

static bool client_hangs_up_now(struct client *c, long *blocks_in_page2)
{
    if (c->remote == REMOTE_FAX || c->remote >= REMOTE_SHORT_FCD_ONCE)
        return c->t30_done;
    if (c->remote == REMOTE_HANG_UP_IN_PAGE_2 && c->pages_tx >= 1)
        return ++*blocks_in_page2 > 100; /* 2 s into page 2's image data */
    return false; /* silence, noise, deaf: they never give up; we must */
}

static void *client_main(void *arg)
{
    struct client *c = arg;
    int fd = client_connect(c->port);
    if (fd < 0)
        return NULL;
    if (c->remote != REMOTE_SILENCE && c->remote != REMOTE_NOISE)
        client_start_sender(c);
    bool ok = send_frame(fd, AS_TYPE_UUID, test_uuid, sizeof test_uuid);
    long page2 = 0;
    for (long i = 0; ok && i < CLIENT_MAX_BLOCKS; i++) {
        int16_t tx[160], rx[160];
        if (c->paced) {
            /* Asterisk's side: our audio is the clock. */
            ok = recv_audio(c, fd, rx, 160);
            client_tx(c, tx);
            ok = ok && send_audio(fd, tx, 160);
        } else {
            client_tx(c, tx);
            ok = send_audio(fd, tx, 160) && recv_audio(c, fd, rx, 160);
        }
        if (ok && c->fax && !c->t30_done && c->remote != REMOTE_DEAF)
            fax_rx(c->fax, rx, 160);
        if (getenv("MODEM_TEST_VERBOSE") && i % 250 == 0)
            fprintf(stderr, "client: block %ld, pages sent %d%s\n", i, c->pages_tx, ok ? "" : ", line gone");
        if (ok && client_hangs_up_now(c, &page2)) {
            if (c->remote != REMOTE_HANG_UP_IN_PAGE_2)
                send_frame(fd, AS_TYPE_HANGUP, NULL, 0);
            break;
        }
    }
    close(fd);
    if (c->fax)
        fax_free(c->fax);
    return NULL;
}

static void client_run_paced(struct client *c, struct fixture *f, enum remote remote, bool paced)
{
    memset(c, 0, sizeof *c);
    c->paced = paced;
    c->port = modem_pool_listen_port(f->pool);
    c->remote = remote;
    c->tx_file = f->tx_file;
    c->seed = 4242;
    assert_int_equal(pthread_create(&c->thread, NULL, client_main, c), 0);
}

static void client_run(struct client *c, struct fixture *f, enum remote remote)
{
    client_run_paced(c, f, remote, false);
}

static void client_join(struct client *c)
{
    pthread_join(c->thread, NULL);
}

/* ---- fixture ------------------------------------------------------------ */

static int make_pool(struct fixture *f, bool unpaced)
{
    struct modem_pool_config cfg = {
        .channels = 1, .line_spec = "sim", .pace = MODEM_PACE_FAST, .sim_dir = f->dir,
        .scratch_dir = f->dir, .workers = 1, .tsid = "FAXFS AS TEST",
        .inbound = &test_inbound_ops, .inbound_ctx = &f->in,
        .listen_spec = "audiosocket:127.0.0.1:0", .listen_unpaced = unpaced,
        .receive_max_pages = f->max_pages, .audiosocket_allow = f->allow, .receive_max_bytes = f->max_bytes,
        .audiosocket_number = "5550199",
    };
    char err[256];
    if (modem_pool_create(&f->pool, &cfg, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    return 0;
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    f->dir = test_tempdir();
    snprintf(f->rx_dir, sizeof f->rx_dir, "%s/rx", f->dir);
    mkdir(f->rx_dir, 0755);
    for (int i = 0; i < MAX_PAGES; i++) {
        snprintf(f->pages[i], sizeof f->pages[i], "%s/page%d.tif", f->dir, i + 1);
        if (test_write_page(f->pages[i], 500, (unsigned)i + 31) != 0)
            return -1;
        f->page_ptrs[i] = f->pages[i];
    }
    char err[192];
    snprintf(f->tx_file, sizeof f->tx_file, "%s/document.tif", f->dir);
    if (tiff_join_pages(f->tx_file, f->page_ptrs, 2, 1, err, sizeof err) != 0)
        return -1;
    test_inbound_init(&f->in, f->rx_dir);
    if (make_pool(f, true) != 0)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    modem_pool_destroy(f->pool);
    test_inbound_destroy(&f->in);
    faxtest_rmtree(f->dir);
    free(f->dir);
    free(f);
    return 0;
}

static void assert_received_page_matches(struct fixture *f, int n)
{
    char got[PATH_MAX];
    test_inbound_page_path(&f->in, n, got, sizeof got);
    assert_true(test_pages_match(got, &f->page_ptrs[n - 1], 1));
}

/* The slot is given back just after finished() (when the worker lets go
 * of the call): wait for it, within a bound. */
static bool inbound_becomes_idle(struct modem_pool *pool)
{
    for (int i = 0; i < 500 && modem_pool_inbound_active(pool) != 0; i++)
        usleep(10000);
    return modem_pool_inbound_active(pool) == 0;
}

/* A remote that does not send a fax: the call ends by our timers, with
 * no page and a failure, and the line is free again. */
static void assert_failed_without_pages(struct fixture *f, struct client *c)
{
    assert_true(test_inbound_wait_finished(&f->in, CALL_TIMEOUT_S));
    client_join(c);
    assert_int_equal(f->in.finished_count, 1);
    assert_int_not_equal(f->in.result.outcome, MODEM_OK);
    assert_int_equal(f->in.result.pages_received, 0);
    assert_true(c->we_hung_up);
    assert_true(inbound_becomes_idle(f->pool));
}

/* ---- tests -------------------------------------------------------------- */

static void test_audiosocket_call_delivers_the_fax(void **state)
{
    struct fixture *f = *state;
    struct client c;
    client_run(&c, f, REMOTE_FAX);
    assert_true(test_inbound_wait_finished(&f->in, CALL_TIMEOUT_S));
    client_join(&c);
    assert_int_equal(f->in.result.outcome, MODEM_OK);
    assert_int_equal(f->in.result.pages_received, 2);
    assert_string_equal(f->in.result.remote_id, SENDER_TSID);
    assert_string_equal(f->in.line, "audiosocket");
    assert_string_equal(f->in.caller_id, "");
    assert_string_equal(f->in.call_ref, "12345678-9abc-def0-0fed-cba987654321");
    assert_string_equal(f->in.called_number, "5550199"); /* the listener's number: AudioSocket carries none */
    assert_received_page_matches(f, 1);
    assert_received_page_matches(f, 2);
    assert_int_equal(c.pages_tx, 2); /* confirmed to the sender */
}

static void test_audiosocket_call_at_real_time_pace_delivers_the_fax(void **state)
{
    struct fixture *f = *state;
    modem_pool_destroy(f->pool);
    assert_int_equal(make_pool(f, false), 0);
    /* One short page: at real-time pace a page's image data takes about
     * 0.1 s a row, and 100 rows (10 s of 20 ms frames after the training)
     * pace the whole T.30 exchange as a long page would. */
    char page[PATH_MAX], err[192];
    snprintf(page, sizeof page, "%s/short.tif", f->dir);
    assert_int_equal(test_write_page(page, REAL_TIME_PAGE_ROWS, 41), 0);
    const char *pages[1] = { page };
    assert_int_equal(tiff_join_pages(f->tx_file, pages, 1, 1, err, sizeof err), 0);
    struct client c;
    client_run_paced(&c, f, REMOTE_FAX, true);
    assert_true(test_inbound_wait_finished(&f->in, CALL_TIMEOUT_S));
    client_join(&c);
    assert_int_equal(f->in.result.outcome, MODEM_OK);
    assert_int_equal(f->in.result.pages_received, 1);
    char got[PATH_MAX];
    test_inbound_page_path(&f->in, 1, got, sizeof got);
    assert_true(test_pages_match(got, pages, 1));
}

static void test_remote_hanging_up_mid_page_keeps_the_pages_before(void **state)
{
    struct fixture *f = *state;
    struct client c;
    client_run(&c, f, REMOTE_HANG_UP_IN_PAGE_2);
    assert_true(test_inbound_wait_finished(&f->in, CALL_TIMEOUT_S));
    client_join(&c);
    assert_int_equal(f->in.result.outcome, MODEM_DROPPED);
    assert_string_equal(f->in.result.code, "call_dropped");
    assert_int_equal(f->in.result.pages_received, 1);
    assert_received_page_matches(f, 1);
}

static void test_remote_sending_silence_ends_without_pages(void **state)
{
    struct fixture *f = *state;
    struct client c;
    client_run(&c, f, REMOTE_SILENCE);
    assert_failed_without_pages(f, &c);
}

static void test_remote_sending_noise_ends_without_pages(void **state)
{
    struct fixture *f = *state;
    struct client c;
    client_run(&c, f, REMOTE_NOISE);
    assert_failed_without_pages(f, &c);
}

static void test_remote_that_never_answers_t30_ends_not_a_fax(void **state)
{
    struct fixture *f = *state;
    struct client c;
    client_run(&c, f, REMOTE_DEAF);
    assert_failed_without_pages(f, &c);
    assert_int_equal(f->in.result.outcome, MODEM_NOT_FAX);
    assert_string_equal(f->in.result.code, "not_fax");
}

static void test_short_ecm_frame_is_dropped_and_the_fax_still_arrives(void **state)
{
    struct fixture *f = *state;
    struct client c;
    client_run(&c, f, REMOTE_SHORT_FCD_ONCE);
    assert_true(test_inbound_wait_finished(&f->in, CALL_TIMEOUT_S));
    client_join(&c);
    assert_int_equal(c.frames_mangled, 1);
    assert_int_equal(f->in.result.outcome, MODEM_OK);
    assert_int_equal(f->in.result.pages_received, 2);
    assert_received_page_matches(f, 1);
    assert_received_page_matches(f, 2);
}

static void test_only_short_ecm_frames_end_the_call_without_harm(void **state)
{
    struct fixture *f = *state;
    struct client c;
    client_run(&c, f, REMOTE_SHORT_FCD_ALWAYS);
    assert_true(test_inbound_wait_finished(&f->in, CALL_TIMEOUT_S));
    client_join(&c);
    assert_true(c.frames_mangled > 1);
    assert_int_not_equal(f->in.result.outcome, MODEM_OK);
    assert_int_equal(f->in.result.pages_received, 0);
}

static void test_garbage_control_frames_end_the_call_without_harm(void **state)
{
    struct fixture *f = *state;
    struct client c;
    client_run(&c, f, REMOTE_GARBAGE_FRAMES);
    assert_true(test_inbound_wait_finished(&f->in, CALL_TIMEOUT_S));
    client_join(&c);
    assert_true(c.frames_mangled > 0);
    assert_int_not_equal(f->in.result.outcome, MODEM_OK);
    assert_int_equal(f->in.result.pages_received, 0);
}

/* Raw connections for the malformed-frame tests. */
static int raw_connect(struct fixture *f)
{
    int fd = client_connect(modem_pool_listen_port(f->pool));
    assert_true(fd >= 0);
    return fd;
}

/* The server closes the connection: recv sees EOF (after at most a hang-up frame). */
static bool server_closes(int fd)
{
    uint8_t buf[4096];
    for (int i = 0; i < 10000; i++) {
        ssize_t r = recv(fd, buf, sizeof buf, 0);
        if (r == 0 || (r < 0 && errno != EINTR && errno != EAGAIN))
            return true;
        if (r < 0)
            return false; /* the 20 s receive bound passed */
    }
    return false;
}

static void test_first_frame_that_is_not_a_uuid_is_refused_without_a_call(void **state)
{
    struct fixture *f = *state;
    int fd = raw_connect(f);
    int16_t silence[160] = { 0 };
    assert_true(send_audio(fd, silence, 160));
    assert_true(test_inbound_wait_notice(&f->in, CALL_TIMEOUT_S));
    assert_true(server_closes(fd));
    close(fd);
    assert_int_equal(f->in.calls, 0);
    assert_int_equal(f->in.finished_count, 0);
    assert_non_null(strstr(f->in.last_notice, "UUID"));
}

static void test_fax_over_the_page_cap_ends_after_the_cap_with_the_pages_kept(void **state)
{
    struct fixture *f = *state;
    modem_pool_destroy(f->pool);
    f->max_pages = 1;
    assert_int_equal(make_pool(f, true), 0);
    struct client c;
    client_run(&c, f, REMOTE_FAX); /* two pages */
    assert_true(test_inbound_wait_finished(&f->in, CALL_TIMEOUT_S));
    client_join(&c);
    assert_int_equal(f->in.result.outcome, MODEM_DROPPED);
    assert_string_equal(f->in.result.code, "too_many_pages");
    assert_non_null(strstr(f->in.result.text, "limit of 1 pages (--receive-max-pages)"));
    assert_int_equal(f->in.result.pages_received, 1);
    assert_received_page_matches(f, 1);
}

static void test_fax_over_the_size_cap_ends_after_the_page_that_reached_it(void **state)
{
    struct fixture *f = *state;
    modem_pool_destroy(f->pool);
    f->max_bytes = 1;
    assert_int_equal(make_pool(f, true), 0);
    struct client c;
    client_run(&c, f, REMOTE_FAX); /* two pages */
    assert_true(test_inbound_wait_finished(&f->in, CALL_TIMEOUT_S));
    client_join(&c);
    assert_int_equal(f->in.result.outcome, MODEM_DROPPED);
    assert_string_equal(f->in.result.code, "too_large");
    assert_non_null(strstr(f->in.result.text, "limit of 1 bytes (--receive-max-mib) after 1 page(s)"));
    assert_int_equal(f->in.result.pages_received, 1);
    assert_received_page_matches(f, 1);
}

static void test_peer_outside_the_allowed_list_is_closed_without_a_call(void **state)
{
    struct fixture *f = *state;
    modem_pool_destroy(f->pool);
    f->allow = "192.0.2.0/24"; /* not loopback */
    assert_int_equal(make_pool(f, true), 0);
    int fd = raw_connect(f);
    assert_true(send_frame(fd, AS_TYPE_UUID, test_uuid, sizeof test_uuid));
    assert_true(test_inbound_wait_notice(&f->in, CALL_TIMEOUT_S));
    assert_true(server_closes(fd));
    close(fd);
    assert_int_equal(f->in.calls, 0);
    assert_non_null(strstr(f->in.last_notice, "not in --audiosocket-allow"));
}

static void test_oversize_frame_ends_the_call_with_a_log_line(void **state)
{
    struct fixture *f = *state;
    int fd = raw_connect(f);
    assert_true(send_frame(fd, AS_TYPE_UUID, test_uuid, sizeof test_uuid));
    uint8_t hdr[AS_HEADER_LEN];
    as_put_header(hdr, AS_TYPE_AUDIO, 60000);
    assert_true(send_all(fd, hdr, sizeof hdr));
    assert_true(test_inbound_wait_finished(&f->in, CALL_TIMEOUT_S));
    assert_true(server_closes(fd));
    close(fd);
    assert_int_equal(f->in.result.outcome, MODEM_DROPPED);
    assert_string_equal(f->in.result.code, "line_malformed");
    assert_non_null(strstr(f->in.result.text, "60000"));
    assert_int_equal(f->in.result.pages_received, 0);
    assert_true(f->in.log_lines > 0);
}

static void test_unknown_frame_type_ends_the_call_and_the_next_call_works(void **state)
{
    struct fixture *f = *state;
    int fd = raw_connect(f);
    assert_true(send_frame(fd, AS_TYPE_UUID, test_uuid, sizeof test_uuid));
    uint8_t junk[4] = { 1, 2, 3, 4 };
    assert_true(send_frame(fd, 0x42, junk, sizeof junk));
    assert_true(test_inbound_wait_finished(&f->in, CALL_TIMEOUT_S));
    assert_true(server_closes(fd));
    close(fd);
    assert_string_equal(f->in.result.code, "line_malformed");
    assert_non_null(strstr(f->in.result.text, "0x42"));

    /* The listener is unharmed: a real fax call goes through. */
    test_inbound_destroy(&f->in);
    test_inbound_init(&f->in, f->rx_dir);
    struct client c;
    client_run(&c, f, REMOTE_FAX);
    assert_true(test_inbound_wait_finished(&f->in, CALL_TIMEOUT_S));
    client_join(&c);
    assert_int_equal(f->in.result.outcome, MODEM_OK);
    assert_int_equal(f->in.result.pages_received, 2);
}

static void test_listening_on_a_port_in_use_fails_with_a_sentence(void **state)
{
    struct fixture *f = *state;
    char spec[64], err[256] = "";
    snprintf(spec, sizeof spec, "audiosocket:127.0.0.1:%d", modem_pool_listen_port(f->pool));
    struct modem_pool_config cfg = {
        .channels = 1, .line_spec = "sim", .sim_dir = f->dir, .scratch_dir = f->dir,
        .inbound = &test_inbound_ops, .inbound_ctx = &f->in, .listen_spec = spec,
    };
    struct modem_pool *p = NULL;
    assert_int_equal(modem_pool_create(&p, &cfg, err, sizeof err), -EADDRINUSE);
    assert_null(p);
    assert_non_null(strstr(err, spec + strlen("audiosocket:")));
    assert_non_null(strstr(err, "in use"));
}

int main(int argc, char **argv)
{
    if (argc > 1)
        cmocka_set_test_filter(argv[1]); /* one case, as ctest runs them */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_audiosocket_call_delivers_the_fax, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fax_over_the_page_cap_ends_after_the_cap_with_the_pages_kept, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_fax_over_the_size_cap_ends_after_the_page_that_reached_it, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_peer_outside_the_allowed_list_is_closed_without_a_call, setup, teardown),
        cmocka_unit_test_setup_teardown(test_audiosocket_call_at_real_time_pace_delivers_the_fax, setup, teardown),
        cmocka_unit_test_setup_teardown(test_remote_hanging_up_mid_page_keeps_the_pages_before, setup, teardown),
        cmocka_unit_test_setup_teardown(test_remote_sending_silence_ends_without_pages, setup, teardown),
        cmocka_unit_test_setup_teardown(test_remote_sending_noise_ends_without_pages, setup, teardown),
        cmocka_unit_test_setup_teardown(test_remote_that_never_answers_t30_ends_not_a_fax, setup, teardown),
        cmocka_unit_test_setup_teardown(test_short_ecm_frame_is_dropped_and_the_fax_still_arrives, setup, teardown),
        cmocka_unit_test_setup_teardown(test_only_short_ecm_frames_end_the_call_without_harm, setup, teardown),
        cmocka_unit_test_setup_teardown(test_garbage_control_frames_end_the_call_without_harm, setup, teardown),
        cmocka_unit_test_setup_teardown(test_first_frame_that_is_not_a_uuid_is_refused_without_a_call, setup, teardown),
        cmocka_unit_test_setup_teardown(test_oversize_frame_ends_the_call_with_a_log_line, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_frame_type_ends_the_call_and_the_next_call_works, setup, teardown),
        cmocka_unit_test_setup_teardown(test_listening_on_a_port_in_use_fails_with_a_sentence, setup, teardown),
    };
    return cmocka_run_group_tests_name("modem_audiosocket", tests, NULL, NULL);
}
