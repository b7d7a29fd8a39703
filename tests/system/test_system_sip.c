/*
 * test_system_sip.c - the queue engine sending over a SIP line on
 * loopback: a peer that answers 486 Busy Here makes the job retry after
 * the busy delay (fake clock), and the retry reaches a faxfs modem pool
 * answering on the same address, which receives the page pixel for
 * pixel (over T.38: both ends have it on). Calls run in real time.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "daemon/wiring.h"
#include "modem/sip_ua.h"
#include "tests/system/system_util.h"

/* The far end: one receiver that keeps the pages it is handed. */
struct far_end {
    pthread_mutex_t lock; /* protects everything below */
    char dir[300];
    int pages;
    bool finished;
    struct modem_rx_result res;
};

struct fixture {
    struct system_engine e;    /* the sender: the engine on a SIP line */
    struct sip_ua *busy;       /* the busy peer, while it holds the port */
    struct modem_pool *far;    /* the answering pool, afterwards */
    struct far_end fe;
    int port;
};

static void *far_begin(void *ctx, const struct modem_inbound_call *call)
{
    (void)call;
    return ctx;
}

static int far_page(void *user, int page_number, const char *tiff_path)
{
    struct far_end *fe = user;
    char dst[400], cmd[900];
    snprintf(dst, sizeof dst, "%s/page-%d.tif", fe->dir, page_number);
    snprintf(cmd, sizeof cmd, "cp '%s' '%s'", tiff_path, dst);
    if (system(cmd) != 0)
        return -EIO;
    pthread_mutex_lock(&fe->lock);
    fe->pages++;
    pthread_mutex_unlock(&fe->lock);
    return 0;
}

static void far_finished(void *user, const struct modem_rx_result *res)
{
    struct far_end *fe = user;
    pthread_mutex_lock(&fe->lock);
    fe->finished = true;
    fe->res = *res;
    pthread_mutex_unlock(&fe->lock);
}

static const struct modem_inbound_ops far_ops = { .begin = far_begin, .page = far_page, .finished = far_finished };

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    if (!f || system_engine_init(&f->e, "/tmp/faxfs-system-sip-XXXXXX") < 0)
        return -1;
    pthread_mutex_init(&f->fe.lock, NULL);
    snprintf(f->fe.dir, sizeof f->fe.dir, "%s", f->e.dir);
    char err[256] = "";
    struct sip_ua_config busy = { .local = "127.0.0.1:0" }; /* no incoming handler: 486 */
    if (sip_ua_create(&f->busy, &busy, err, sizeof err) != 0) {
        fprintf(stderr, "busy peer: %s\n", err);
        return -1;
    }
    f->port = sip_ua_port(f->busy);
    char line[64];
    snprintf(line, sizeof line, "sip:127.0.0.1:%d", f->port);
    struct modem_pool_config mcfg = {
        .channels = 1, .line_spec = line, .workers = 1, .tsid = "faxfs sender", .sip = { .local = "127.0.0.1" },
    };
    if (system_engine_open(&f->e, &mcfg) < 0)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    system_engine_close(&f->e);
    modem_pool_destroy(f->far);
    sip_ua_destroy(f->busy);
    pthread_mutex_destroy(&f->fe.lock);
    system_engine_cleanup(&f->e);
    free(f);
    return 0;
}

/* The busy peer lets go of the port; a modem pool answers there. */
static void replace_busy_peer_with_fax_receiver(struct fixture *f)
{
    sip_ua_destroy(f->busy);
    f->busy = NULL;
    char listen[64], err[256] = "";
    snprintf(listen, sizeof listen, "sip:127.0.0.1:%d", f->port);
    struct modem_pool_config cfg = {
        .channels = 1, .line_spec = "sim", .sim_dir = f->e.dir, .scratch_dir = f->e.dir, .workers = 1,
        .tsid = "faxfs receiver", .inbound = &far_ops, .inbound_ctx = &f->fe, .listen_spec = listen,
    };
    int rc = modem_pool_create(&f->far, &cfg, err, sizeof err);
    if (rc != 0)
        fprintf(stderr, "receiver: %s\n", err);
    assert_int_equal(rc, 0);
}

static void test_busy_sip_peer_is_retried_after_busy_delay_and_then_sent(void **state)
{
    struct fixture *f = *state;
    char doc[300], got[400];
    snprintf(doc, sizeof doc, "%s/doc.tif", f->e.dir);
    uint64_t id = system_submit(&f->e, "5551000", doc, 1, 300);
    struct job j = system_attempt(&f->e, id, 180);
    assert_int_equal(j.status, JOB_RETRYING);
    assert_string_equal(j.error_code, "busy");
    assert_int_equal(j.next_attempt - f->e.now, 180);
    system_engine_set_now(&f->e, j.next_attempt);

    replace_busy_peer_with_fax_receiver(f);
    j = system_attempt(&f->e, id, 180);
    assert_int_equal(j.status, JOB_DONE);
    assert_int_equal(j.attempts, 2);
    assert_int_equal(j.pages_sent, 1);
    assert_int_equal(j.bit_rate, 14400);
    assert_int_equal(j.ecm, 1);
    assert_string_equal(j.transport, "t38"); /* the sender's job records it too */
    for (int i = 0; i < 10000; i++) { /* the receiver reports after its own hang-up */
        pthread_mutex_lock(&f->fe.lock);
        bool done = f->fe.finished;
        pthread_mutex_unlock(&f->fe.lock);
        if (done)
            break;
        usleep(1000);
    }
    pthread_mutex_lock(&f->fe.lock);
    assert_true(f->fe.finished);
    assert_int_equal(f->fe.res.outcome, MODEM_OK);
    assert_int_equal(f->fe.pages, 1);
    assert_string_equal(f->fe.res.transport, "t38");
    pthread_mutex_unlock(&f->fe.lock);
    snprintf(got, sizeof got, "%s/page-1.tif", f->e.dir);
    assert_int_equal(system_tiff_page_pixels_equal(doc, 0, got, 0), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_busy_sip_peer_is_retried_after_busy_delay_and_then_sent, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
