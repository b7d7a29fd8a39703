/*
 * test_modem_sip_baresip.c - SIP signalling against an independent user
 * agent: baresip (Debian package baresip-core) in a temporary config
 * directory, driven through its stdin menu, with no audio device (its
 * only sources need 48 kHz and would end every call). INVITE, answer and BYE both
 * ways, and a rejected call mapped to busy. Skipped without baresip.
 * Every wait is bounded; baresip is always stopped and reaped.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "modem/sip_ua.h"

#ifndef BARESIP_PATH
#define BARESIP_PATH "baresip"
#endif
#define WAIT_LIMIT_MS 10000

struct baresip {
    pid_t pid;
    int to, from;
    uint16_t port;
    char dir[64];
    char out[65536];
    size_t len;
};

static void sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

static uint16_t free_udp_port(void)
{
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof a;
    bind(fd, (struct sockaddr *)&a, sizeof a);
    getsockname(fd, (struct sockaddr *)&a, &len);
    close(fd);
    return ntohs(a.sin_port);
}

static void write_file(const char *dir, const char *name, const char *text)
{
    char path[128];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void baresip_pump(struct baresip *b)
{
    for (;;) {
        ssize_t n = read(b->from, b->out + b->len, sizeof b->out - 1 - b->len);
        if (n <= 0)
            break;
        b->len += (size_t)n;
        b->out[b->len] = '\0';
    }
}

static bool baresip_wait_for(struct baresip *b, const char *text)
{
    for (int waited = 0; waited < WAIT_LIMIT_MS; waited += 10) {
        baresip_pump(b);
        if (strstr(b->out, text))
            return true;
        sleep_ms(10);
    }
    fprintf(stderr, "baresip output so far:\n%s\n", b->out);
    return false;
}

static void baresip_command(struct baresip *b, const char *cmd)
{
    ssize_t n = write(b->to, cmd, strlen(cmd));
    assert_int_equal(n, (ssize_t)strlen(cmd));
}

static void baresip_start(struct baresip *b, const char *answermode)
{
    char text[1024];
    memset(b, 0, sizeof *b);
    snprintf(b->dir, sizeof b->dir, "/tmp/faxfs-baresip-XXXXXX");
    assert_non_null(mkdtemp(b->dir));
    b->port = free_udp_port();
    snprintf(text, sizeof text,
             "poll_method\tpoll\n"
             "sip_listen\t127.0.0.1:%u\n"
             "module_path\t/usr/lib/baresip/modules\n"
             "module\tg711.so\n"
             "module\tstdio.so\n"
             "module\taccount.so\n"
             "module\tmenu.so\n",
             b->port);
    write_file(b->dir, "config", text);
    snprintf(text, sizeof text, "<sip:5551234@127.0.0.1:%u>;regint=0;answermode=%s\n", b->port, answermode);
    write_file(b->dir, "accounts", text);
    write_file(b->dir, "contacts", "\n");
    int in[2], out[2];
    assert_int_equal(pipe(in), 0);
    assert_int_equal(pipe(out), 0);
    b->pid = fork();
    assert_true(b->pid >= 0);
    if (b->pid == 0) {
        dup2(in[0], STDIN_FILENO);
        dup2(out[1], STDOUT_FILENO);
        dup2(out[1], STDERR_FILENO);
        close(in[1]);
        close(out[0]);
        execlp(BARESIP_PATH, "baresip", "-f", b->dir, (char *)NULL);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    b->to = in[1];
    b->from = out[0];
    fcntl(b->from, F_SETFL, O_NONBLOCK);
    assert_true(baresip_wait_for(b, "baresip is ready"));
}

/* Asks baresip to quit, then makes sure: whatever happened, it is gone
 * and reaped when this returns. */
static void baresip_stop(struct baresip *b)
{
    if (b->pid <= 0)
        return;
    ssize_t n = write(b->to, "/quit\n", 6);
    (void)n;
    int status;
    pid_t got = 0;
    for (int waited = 0; waited < 2000 && got == 0; waited += 10) {
        got = waitpid(b->pid, &status, WNOHANG);
        if (got == 0)
            sleep_ms(10);
    }
    if (got != b->pid) {
        kill(b->pid, SIGKILL);
        while (waitpid(b->pid, &status, 0) < 0 && errno == EINTR)
            ;
    }
    b->pid = 0;
    close(b->to);
    close(b->from);
    const char *files[] = { "config", "accounts", "contacts", "uuid", "current_contact" };
    char path[128];
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", b->dir, files[i]);
        unlink(path);
    }
    rmdir(b->dir);
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

static struct baresip the_baresip; /* stopped by teardown, pass or fail */

static int stop_baresip(void **state)
{
    (void)state;
    baresip_stop(&the_baresip);
    return 0;
}

static int skip_without_baresip(void **state)
{
    (void)state;
    char cmd[256];
    snprintf(cmd, sizeof cmd, "command -v %s >/dev/null 2>&1", BARESIP_PATH);
    if (system(cmd) != 0 || access("/usr/lib/baresip/modules/g711.so", R_OK) != 0)
        skip();
    return 0;
}

static struct sip_ua *dialer_to(const struct baresip *b)
{
    char peer[64], err[256];
    snprintf(peer, sizeof peer, "127.0.0.1:%u", b->port);
    struct sip_ua_config cfg = { .peer = peer, .local = "127.0.0.1", .user = "5550100" };
    struct sip_ua *ua;
    assert_int_equal(sip_ua_create(&ua, &cfg, err, sizeof err), 0);
    return ua;
}

struct taker {
    _Atomic(struct sip_call *) call;
    char caller_id[64];
};

static int take_call(void *user, struct sip_call *call, const char *caller_id)
{
    struct taker *t = user;
    snprintf(t->caller_id, sizeof t->caller_id, "%s", caller_id);
    atomic_store(&t->call, call);
    return 0;
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

static void test_baresip_answers_our_invite_and_takes_our_bye(void **state)
{
    skip_without_baresip(state);
    struct baresip *bp = &the_baresip;
    baresip_start(bp, "auto");
    struct sip_ua *ua = dialer_to(bp);
    struct sip_call *c;
    assert_int_equal(sip_ua_dial(ua, "5551234", &c), 0);
    assert_int_equal(wait_state(c, SIP_CALL_ANSWERED), SIP_CALL_ANSWERED);
    struct sdp_choice m;
    sip_call_media(c, &m, NULL);
    assert_int_equal(m.kind, SDP_CHOICE_AUDIO);
    assert_true(m.pt == SDP_PT_PCMU || m.pt == SDP_PT_PCMA);
    assert_true(m.port > 0);
    assert_true(baresip_wait_for(bp, "established"));
    sip_call_release(c);
    assert_true(baresip_wait_for(bp, "closed"));
    sip_ua_destroy(ua);
}

static void test_baresip_bye_ends_our_outbound_call(void **state)
{
    skip_without_baresip(state);
    struct baresip *bp = &the_baresip;
    baresip_start(bp, "auto");
    struct sip_ua *ua = dialer_to(bp);
    struct sip_call *c;
    assert_int_equal(sip_ua_dial(ua, "5551234", &c), 0);
    assert_int_equal(wait_state(c, SIP_CALL_ANSWERED), SIP_CALL_ANSWERED);
    assert_true(baresip_wait_for(bp, "established"));
    baresip_command(bp, "/hangup\n");
    assert_int_equal(wait_state(c, SIP_CALL_ENDED), SIP_CALL_ENDED);
    sip_call_release(c);
    sip_ua_destroy(ua);
}

static void test_baresip_rejecting_our_call_means_busy(void **state)
{
    skip_without_baresip(state);
    struct baresip *bp = &the_baresip;
    baresip_start(bp, "manual");
    struct sip_ua *ua = dialer_to(bp);
    struct sip_call *c;
    assert_int_equal(sip_ua_dial(ua, "5551234", &c), 0);
    assert_int_equal(wait_state(c, SIP_CALL_RINGING), SIP_CALL_RINGING);
    assert_true(baresip_wait_for(bp, "Incoming call"));
    baresip_command(bp, "/hangup\n");
    assert_int_equal(wait_state(c, SIP_CALL_BUSY), SIP_CALL_BUSY);
    int status = 0;
    sip_call_state(c, &status);
    assert_int_equal(status, 486);
    sip_call_release(c);
    sip_ua_destroy(ua);
}

/* baresip calls us: we answer with the caller id from From; then each
 * side hangs up in turn. */
static void inbound_call(bool we_hang_up)
{
    struct baresip *bp = &the_baresip;
    baresip_start(bp, "auto");
    struct taker t = { NULL, "" };
    char err[256], cmd[128];
    struct sip_ua_config cfg = { .local = "127.0.0.1:0", .incoming = take_call, .user_data = &t };
    struct sip_ua *ua;
    assert_int_equal(sip_ua_create(&ua, &cfg, err, sizeof err), 0);
    snprintf(cmd, sizeof cmd, "/dial sip:5550100@127.0.0.1:%u\n", sip_ua_port(ua));
    baresip_command(bp, cmd);
    struct sip_call *c = wait_taken(&t);
    assert_non_null(c);
    assert_string_equal(t.caller_id, "5551234");
    assert_int_equal(sip_call_state(c, NULL), SIP_CALL_ANSWERED);
    assert_true(baresip_wait_for(bp, "established"));
    if (we_hang_up) {
        sip_call_release(c);
        assert_true(baresip_wait_for(bp, "closed"));
    } else {
        baresip_command(bp, "/hangup\n");
        assert_int_equal(wait_state(c, SIP_CALL_ENDED), SIP_CALL_ENDED);
        sip_call_release(c);
    }
    sip_ua_destroy(ua);
}

static void test_baresip_invite_is_answered_and_takes_our_bye(void **state)
{
    skip_without_baresip(state);
    inbound_call(true);
}

static void test_baresip_bye_ends_our_inbound_call(void **state)
{
    skip_without_baresip(state);
    inbound_call(false);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_baresip_answers_our_invite_and_takes_our_bye, stop_baresip),
        cmocka_unit_test_teardown(test_baresip_bye_ends_our_outbound_call, stop_baresip),
        cmocka_unit_test_teardown(test_baresip_rejecting_our_call_means_busy, stop_baresip),
        cmocka_unit_test_teardown(test_baresip_invite_is_answered_and_takes_our_bye, stop_baresip),
        cmocka_unit_test_teardown(test_baresip_bye_ends_our_inbound_call, stop_baresip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
