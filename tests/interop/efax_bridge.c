/*
 * efax_bridge.c - a test fixture, not part of faxfs: emulates a Class 1 fax
 * modem (spandsp T.31) on a pseudo-terminal, runs efax on the pty's slave
 * side, and carries the modem's audio to faxfs at real-time pace: on
 * stdin/stdout for faxfs's exec line ("answer"), or over an AudioSocket TCP
 * connection the way Asterisk would place a call ("dial"). See docs/interop.md.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <spandsp.h>
/* Only to free what spandsp 0.0.6's t31_free leaks (its receive queue). */
#include <spandsp/expose.h>

#define BLOCK 160                       /* samples per 20 ms tick */
#define TICK_NS 20000000L
#define RING_FIRST_MS 1500              /* let efax initialise its modem first */
#define RING_EVERY_MS 3000
#define ANSWER_TIMEOUT_MS 60000         /* efax never answered: "no answer" */
#define EFAX_EXIT_GRACE_MS 1000         /* after the call; faxfs kills a line 2 s after hanging up */
#define AS_HDR 3                        /* AudioSocket: type, 16-bit big-endian length */
#define AS_HANGUP 0x00
#define AS_UUID 0x01
#define AS_AUDIO 0x10
#define AS_ERROR 0xff
#define EXIT_NO_ANSWER 3                /* faxfs exec line: see docs/lines.md */
#define PTY_CHUNK 256                   /* < T31_TX_BUF_LEN - T31_TX_BUF_HIGH_TIDE */

enum bridge_mode { MODE_ANSWER, MODE_DIAL };

struct bridge {
    enum bridge_mode mode;
    t31_state_t *t31;
    int pty;                    /* master side; T.31's AT channel */
    int pty_slave;              /* kept open so the master never sees EIO between efax's opens */
    char pty_name[64];
    pid_t efax;
    int efax_status;            /* wait status once efax has exited */
    bool efax_done;
    /* The audio path: exec line pipes, or an AudioSocket connection. */
    int audio_in, audio_out;
    const char *target;         /* dial: HOST:PORT of faxfs's AudioSocket listener */
    uint8_t rx[4096];           /* AudioSocket bytes not yet parsed; odd byte of a sample */
    size_t rx_len;
    /* Call state, driven by T.31's modem control callback and the far end. */
    bool in_call;               /* audio flows */
    bool call_over;             /* either side hung up; no new call */
    bool ring_started;
    bool cts;                   /* T.31 takes more data from efax; off while its buffer is full */
    struct timespec start, rang;
    int verbose;
};

static struct bridge br = { .pty = -1, .pty_slave = -1, .audio_in = -1, .audio_out = -1 };

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "efax_bridge: ");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static long ms_since(const struct timespec *t)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (now.tv_sec - t->tv_sec) * 1000 + (now.tv_nsec - t->tv_nsec) / 1000000;
}

static void spandsp_log(int level, const char *text)
{
    (void)level;
    fprintf(stderr, "efax_bridge: t31: %s", text);
}

/* ---- the pty: T.31's AT channel to efax ---- */

static int pty_write(at_state_t *s, void *user, const uint8_t *buf, size_t len)
{
    (void)s;
    (void)user;
    size_t done = 0;
    /* efax reads promptly; a bounded wait only covers a stalled reader. */
    for (int tries = 0; done < len && tries < 200; tries++) {
        ssize_t n = write(br.pty, buf + done, len - done);
        if (n > 0) {
            done += (size_t)n;
            continue;
        }
        if (n < 0 && errno != EAGAIN && errno != EINTR)
            break;
        struct pollfd p = { .fd = br.pty, .events = POLLOUT };
        poll(&p, 1, 10);
    }
    if (done < len)
        say("pty: dropped %zu bytes for efax", len - done);
    return (int)len;
}

static int pty_open(void)
{
    int m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (m < 0 || grantpt(m) < 0 || unlockpt(m) < 0 || ptsname_r(m, br.pty_name, sizeof br.pty_name)) {
        say("pty: %s", strerror(errno));
        return -1;
    }
    int s = open(br.pty_name, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (s < 0) {
        say("%s: %s", br.pty_name, strerror(errno));
        return -1;
    }
    /* Raw from the start: an echoing line discipline would loop T.31's
     * replies back into its AT interpreter before efax configures it. */
    struct termios t;
    tcgetattr(s, &t);
    cfmakeraw(&t);
    tcsetattr(s, TCSANOW, &t);
    fcntl(m, F_SETFL, fcntl(m, F_GETFL) | O_NONBLOCK);
    br.pty = m;
    br.pty_slave = s;
    return 0;
}

/* ---- the audio path ---- */

static int write_all(int fd, const void *buf, size_t len)
{
    const uint8_t *p = buf;
    while (len) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == ENOTSOCK)
            n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN) {
            /* The socket is non-blocking for reads; a far end that takes
             * nothing for a whole second is gone. */
            struct pollfd p = { .fd = fd, .events = POLLOUT };
            if (poll(&p, 1, 1000) == 1)
                continue;
        }
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static int as_send(uint8_t type, const void *payload, uint16_t len)
{
    uint8_t hdr[AS_HDR] = { type, (uint8_t)(len >> 8), (uint8_t)len };
    if (write_all(br.audio_out, hdr, sizeof hdr) < 0)
        return -1;
    return len ? write_all(br.audio_out, payload, len) : 0;
}

static int as_connect(const char *target)
{
    char host[256];
    const char *colon = strrchr(target, ':');
    if (!colon || (size_t)(colon - target) >= sizeof host) {
        say("dial: '%s' is not HOST:PORT", target);
        return -1;
    }
    memcpy(host, target, (size_t)(colon - target));
    host[colon - target] = '\0';
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM }, *ai;
    int rc = getaddrinfo(host, colon + 1, &hints, &ai);
    if (rc) {
        say("dial: %s: %s", target, gai_strerror(rc));
        return -1;
    }
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, 0);
    if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
        say("dial: connect %s: %s", target, strerror(errno));
        close(fd);
        fd = -1;
    }
    freeaddrinfo(ai);
    return fd;
}

/* The far end hung up or the path broke: efax hears the carrier drop. */
static void far_end_gone(const char *why)
{
    if (!br.in_call)
        return;
    say("call ended by the far end (%s)", why);
    br.in_call = false;
    br.call_over = true;
    t31_call_event(br.t31, AT_CALL_EVENT_HANGUP);
}

/* Our side (efax) hung up: tell the far end. */
static void near_end_hangup(void)
{
    if (!br.in_call)
        return;
    say("efax hung up");
    br.in_call = false;
    br.call_over = true;
    if (br.mode == MODE_DIAL) {
        as_send(AS_HANGUP, NULL, 0);
        shutdown(br.audio_out, SHUT_WR);
    } else {
        /* faxfs takes a closed stdout as the hang-up. */
        close(br.audio_out);
        br.audio_out = -1;
    }
}

static void feed_t31(int16_t *samples, int n)
{
    while (n > 0) {
        int k = n > BLOCK ? BLOCK : n;
        t31_rx(br.t31, samples, k);
        samples += k;
        n -= k;
    }
}

/* Exec line: raw s16le on stdin. Keeps an odd trailing byte for next time. */
static void read_raw_audio(void)
{
    ssize_t n = read(br.audio_in, br.rx + br.rx_len, sizeof br.rx - br.rx_len);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
        close(br.audio_in);
        br.audio_in = -1;
        far_end_gone("faxfs closed the audio");
        return;
    }
    if (n < 0)
        return;
    br.rx_len += (size_t)n;
    size_t whole = br.rx_len & ~(size_t)1;
    int16_t samples[sizeof br.rx / 2];
    memcpy(samples, br.rx, whole);
    if (br.in_call)
        feed_t31(samples, (int)(whole / 2));
    memmove(br.rx, br.rx + whole, br.rx_len - whole);
    br.rx_len -= whole;
}

/* AudioSocket: parse whole frames; audio goes to T.31. */
static void read_audiosocket(void)
{
    ssize_t n = recv(br.audio_in, br.rx + br.rx_len, sizeof br.rx - br.rx_len, 0);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
        close(br.audio_in);
        br.audio_in = br.audio_out = -1;
        far_end_gone("connection closed");
        return;
    }
    if (n < 0)
        return;
    br.rx_len += (size_t)n;
    size_t off = 0;
    while (br.rx_len - off >= AS_HDR) {
        uint8_t type = br.rx[off];
        size_t len = ((size_t)br.rx[off + 1] << 8) | br.rx[off + 2];
        if (len > sizeof br.rx - AS_HDR) {
            far_end_gone("oversized frame");
            break;
        }
        if (br.rx_len - off < AS_HDR + len)
            break;
        const uint8_t *payload = br.rx + off + AS_HDR;
        if (type == AS_AUDIO && br.in_call) {
            int16_t samples[sizeof br.rx / 2];
            memcpy(samples, payload, len & ~(size_t)1);
            feed_t31(samples, (int)(len / 2));
        } else if (type == AS_HANGUP) {
            far_end_gone("hang-up frame");
        } else if (type == AS_ERROR) {
            far_end_gone("error frame");
        }
        off += AS_HDR + len;
    }
    memmove(br.rx, br.rx + off, br.rx_len - off);
    br.rx_len -= off;
}

/* One 20 ms block of the modem's transmit audio. */
static void send_block(void)
{
    int16_t block[BLOCK];
    int n = t31_tx(br.t31, block, BLOCK);
    if (n < BLOCK)
        memset(block + n, 0, (size_t)(BLOCK - n) * sizeof block[0]);
    int rc = br.mode == MODE_DIAL ? as_send(AS_AUDIO, block, sizeof block)
                                  : write_all(br.audio_out, block, sizeof block);
    if (rc < 0)
        far_end_gone("audio write failed");
}

/* ---- T.31's modem control: what efax asks of the "line" ---- */

static int modem_control(t31_state_t *s, void *user, int op, const char *num)
{
    (void)s;
    (void)user;
    switch (op) {
    case AT_MODEM_CONTROL_ANSWER:
        say("efax answered");
        br.in_call = true;
        t31_call_event(br.t31, AT_CALL_EVENT_ANSWERED);
        break;
    case AT_MODEM_CONTROL_CALL:
        say("efax dials %s", num ? num : "");
        if (br.mode != MODE_DIAL || br.call_over) {
            t31_call_event(br.t31, AT_CALL_EVENT_NO_DIALTONE);
            break;
        }
        br.audio_in = br.audio_out = as_connect(br.target);
        if (br.audio_in < 0) {
            br.call_over = true;
            t31_call_event(br.t31, AT_CALL_EVENT_NO_ANSWER);
            break;
        }
        fcntl(br.audio_in, F_SETFL, fcntl(br.audio_in, F_GETFL) | O_NONBLOCK);
        uint8_t uuid[16];
        for (size_t i = 0; i < sizeof uuid; i++)
            uuid[i] = (uint8_t)(rand() & 0xff);
        uuid[6] = (uint8_t)((uuid[6] & 0x0f) | 0x40);   /* version 4 */
        uuid[8] = (uint8_t)((uuid[8] & 0x3f) | 0x80);
        if (as_send(AS_UUID, uuid, sizeof uuid) < 0) {
            br.call_over = true;
            t31_call_event(br.t31, AT_CALL_EVENT_NO_ANSWER);
            break;
        }
        br.in_call = true;
        t31_call_event(br.t31, AT_CALL_EVENT_CONNECTED);
        break;
    case AT_MODEM_CONTROL_HANGUP:
    case AT_MODEM_CONTROL_ONHOOK:
        near_end_hangup();
        break;
    case AT_MODEM_CONTROL_CTS: {
        /* efax uses XON/XOFF flow control in fax mode; the bridge also stops
         * reading the pty, since what efax wrote before the XOFF arrived would
         * overflow T.31's buffer (it drops data then). */
        br.cts = (intptr_t)num != 0;
        uint8_t c = br.cts ? 0x11 : 0x13;
        pty_write(NULL, NULL, &c, 1);
        break;
    }
    default:
        break;
    }
    return 0;
}

/* ---- efax ---- */

static pid_t efax_start(char **argv)
{
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    /* efax must never outlive the bridge (tests leave nothing behind). */
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() == 1)
        _exit(127);
    int null = open("/dev/null", O_RDWR);
    dup2(null, STDIN_FILENO);
    dup2(STDERR_FILENO, STDOUT_FILENO);   /* never faxfs's audio pipe */
    signal(SIGPIPE, SIG_DFL);
    execvp(argv[0], argv);
    fprintf(stderr, "efax_bridge: %s: %s\n", argv[0], strerror(errno));
    _exit(127);
}

static void efax_reap(void)
{
    if (br.efax_done)
        return;
    if (waitpid(br.efax, &br.efax_status, WNOHANG) == br.efax) {
        br.efax_done = true;
        if (WIFEXITED(br.efax_status))
            say("efax exited with status %d", WEXITSTATUS(br.efax_status));
        else
            say("efax ended by signal %d", WTERMSIG(br.efax_status));
    }
}

static int efax_exit_code(void)
{
    if (!br.efax_done)
        return 1;
    return WIFEXITED(br.efax_status) ? WEXITSTATUS(br.efax_status) : 128 + WTERMSIG(br.efax_status);
}

static void efax_stop(void)
{
    if (br.efax_done)
        return;
    kill(br.efax, SIGTERM);
    for (int i = 0; i < 50 && !br.efax_done; i++) {
        usleep(20000);
        efax_reap();
    }
    if (!br.efax_done) {
        kill(br.efax, SIGKILL);
        waitpid(br.efax, &br.efax_status, 0);
        br.efax_done = true;
    }
}

/* ---- the real-time loop ---- */

static void ring_if_due(void)
{
    if (br.mode != MODE_ANSWER || br.in_call || br.call_over)
        return;
    long since_start = ms_since(&br.start);
    if (since_start < RING_FIRST_MS || (br.ring_started && ms_since(&br.rang) < RING_EVERY_MS))
        return;
    br.ring_started = true;
    clock_gettime(CLOCK_MONOTONIC, &br.rang);
    t31_call_event(br.t31, AT_CALL_EVENT_ALERTING);
}

static void timespec_add_ns(struct timespec *t, long ns)
{
    t->tv_nsec += ns;
    while (t->tv_nsec >= 1000000000L) {
        t->tv_nsec -= 1000000000L;
        t->tv_sec++;
    }
}

static int ms_until(const struct timespec *t)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    long ms = (t->tv_sec - now.tv_sec) * 1000 + (t->tv_nsec - now.tv_nsec) / 1000000;
    return ms < 0 ? 0 : (int)ms;
}

static bool past(const struct timespec *t)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return now.tv_sec > t->tv_sec || (now.tv_sec == t->tv_sec && now.tv_nsec >= t->tv_nsec);
}

static int run(void)
{
    struct timespec next, call_end = { 0 };
    clock_gettime(CLOCK_MONOTONIC, &next);
    bool was_over = false;
    for (;;) {
        efax_reap();
        if (br.efax_done) {
            /* efax leaving mid-call is a hang-up. */
            near_end_hangup();
            return 0;
        }
        if (br.call_over && !was_over) {
            was_over = true;
            clock_gettime(CLOCK_MONOTONIC, &call_end);
        }
        if (was_over && ms_since(&call_end) > EFAX_EXIT_GRACE_MS) {
            say("efax did not exit after the call; stopping it");
            return 0;
        }
        if (br.mode == MODE_ANSWER && !br.in_call && !br.call_over && ms_since(&br.start) > ANSWER_TIMEOUT_MS) {
            say("efax did not answer");
            return -EXIT_NO_ANSWER;
        }
        ring_if_due();

        struct pollfd p[2] = { { .fd = br.pty, .events = br.cts ? POLLIN : 0 },
                               { .fd = br.audio_in, .events = POLLIN } };
        int rc = poll(p, 2, ms_until(&next));
        if (rc < 0 && errno != EINTR)
            return 0;
        if (rc > 0 && (p[0].revents & POLLIN)) {
            /* T.31 checks its high-water mark only after a whole chunk: a
             * chunk must fit in what lies above that mark. */
            char buf[PTY_CHUNK];
            ssize_t n = read(br.pty, buf, sizeof buf);
            if (n > 0) {
                if (br.verbose)
                    say("efax -> modem: %zd bytes", n);
                t31_at_rx(br.t31, buf, (int)n);
            }
        }
        if (rc > 0 && br.audio_in >= 0 && (p[1].revents & (POLLIN | POLLHUP | POLLERR))) {
            if (br.mode == MODE_DIAL)
                read_audiosocket();
            else
                read_raw_audio();
        }
        if (past(&next)) {
            /* An absolute schedule: 50 blocks a second with no drift. */
            timespec_add_ns(&next, TICK_NS);
            if (br.in_call && br.audio_out >= 0)
                send_block();
        }
    }
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: efax_bridge [OPTIONS] answer PREFIX NUMBER\n"
            "       efax_bridge [OPTIONS] dial HOST:PORT NUMBER FILE...\n"
            "\n"
            "answer: faxfs's exec line (--line 'exec:efax_bridge ... answer PREFIX'): rings\n"
            "        efax -r PREFIX, then carries the call's audio on stdin/stdout.\n"
            "dial:   efax -t NUMBER FILE... places a call to faxfs's AudioSocket listener\n"
            "        at HOST:PORT. Exits with efax's exit status.\n"
            "\n"
            "  -e, --efax-arg ARG   extra argument for efax (repeatable), e.g. -e -l -e ID\n"
            "      --efax PATH      the efax program (default efax)\n"
            "      --number-file F  answer: write the number faxfs dialed to F\n"
            "      --status-file F  write efax's exit status to F when it ends\n"
            "      --pid-file F     append the bridge's and efax's process ids to F, so a\n"
            "                       test can stop whatever is left when it ends\n"
            "  -v, --verbose        trace the modem (spandsp T.31 log)\n");
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        { "efax-arg", required_argument, NULL, 'e' }, { "efax", required_argument, NULL, 'E' },
        { "number-file", required_argument, NULL, 'N' }, { "status-file", required_argument, NULL, 'S' },
        { "pid-file", required_argument, NULL, 'P' },  { "verbose", no_argument, NULL, 'v' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    const char *efax = "efax", *number_file = NULL, *status_file = NULL, *pid_file = NULL;
    char *extra[64];
    int nextra = 0, c;
    while ((c = getopt_long(argc, argv, "+e:vh", opts, NULL)) != -1) {
        switch (c) {
        case 'e':
            if (nextra == (int)(sizeof extra / sizeof extra[0])) {
                say("too many --efax-arg");
                return 1;
            }
            extra[nextra++] = optarg;
            break;
        case 'E': efax = optarg; break;
        case 'N': number_file = optarg; break;
        case 'S': status_file = optarg; break;
        case 'P': pid_file = optarg; break;
        case 'v': br.verbose = 1; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 1;
        }
    }
    int left = argc - optind;
    char **pos = argv + optind;
    if (left == 3 && strcmp(pos[0], "answer") == 0) {
        br.mode = MODE_ANSWER;
    } else if (left >= 4 && strcmp(pos[0], "dial") == 0) {
        br.mode = MODE_DIAL;
        br.target = pos[1];
    } else {
        usage(stderr);
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    srand((unsigned)time(NULL) ^ (unsigned)getpid());
    clock_gettime(CLOCK_MONOTONIC, &br.start);
    if (pty_open() < 0)
        return 1;

    if (br.mode == MODE_ANSWER) {
        say("faxfs dials %s", pos[2]);
        if (number_file) {
            FILE *f = fopen(number_file, "w");
            if (f) {
                fprintf(f, "%s\n", pos[2]);
                fclose(f);
            }
        }
        br.audio_in = STDIN_FILENO;
        br.audio_out = STDOUT_FILENO;
        fcntl(br.audio_in, F_SETFL, fcntl(br.audio_in, F_GETFL) | O_NONBLOCK);
    }

    br.t31 = t31_init(NULL, pty_write, NULL, modem_control, NULL, NULL, NULL);
    if (!br.t31) {
        say("t31_init failed");
        return 1;
    }
    t31_set_transmit_on_idle(br.t31, 1);
    br.cts = true;
    if (br.verbose) {
        logging_state_t *log = t31_get_logging_state(br.t31);
        span_log_set_level(log, SPAN_LOG_FLOW | SPAN_LOG_SHOW_PROTOCOL | SPAN_LOG_SHOW_TAG);
        span_log_set_tag(log, "T.31");
        span_log_set_message_handler(log, spandsp_log);
    }

    /* efax -d PTY -o1 EXTRA... then -r PREFIX, or -t NUMBER FILE... */
    char *eargv[64 + 16];
    int n = 0;
    eargv[n++] = (char *)efax;
    eargv[n++] = "-d";
    eargv[n++] = br.pty_name;
    eargv[n++] = "-o1";
    for (int i = 0; i < nextra; i++)
        eargv[n++] = extra[i];
    if (br.mode == MODE_ANSWER) {
        eargv[n++] = "-r";
        eargv[n++] = pos[1];
    } else {
        eargv[n++] = "-t";
        for (int i = 2; i < left && n < (int)(sizeof eargv / sizeof eargv[0]) - 1; i++)
            eargv[n++] = pos[i];
    }
    eargv[n] = NULL;
    br.efax = efax_start(eargv);
    if (br.efax < 0) {
        say("fork: %s", strerror(errno));
        return 1;
    }

    if (pid_file) {
        FILE *f = fopen(pid_file, "a");
        if (f) {
            fprintf(f, "%d %d\n", (int)getpid(), (int)br.efax);
            fclose(f);
        }
    }

    int rc = run();
    efax_stop();
    if (status_file) {
        FILE *f = fopen(status_file, "w");
        if (f) {
            fprintf(f, "%d\n", efax_exit_code());
            fclose(f);
        }
    }
    queue_free(br.t31->rx_queue);
    t31_free(br.t31);
    if (rc < 0)
        return -rc;
    return br.mode == MODE_DIAL ? efax_exit_code() : 0;
}
