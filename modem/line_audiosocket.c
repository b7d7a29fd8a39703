/*
 * line_audiosocket.c - inbound calls from Asterisk's AudioSocket()
 * application: the listening socket, and each accepted TCP connection as
 * a line call. The peer's first frame is the call UUID (until then the
 * call "rings"); audio frames go to the receiver; a hang-up frame, an
 * error frame or EOF ends the call; a malformed frame ends it with the
 * parser's sentence. Asterisk does not pace what it receives, so we do:
 * one 320-byte frame per 20 ms tick (LINE_CLOCK_REALTIME), fed from a
 * small jitter buffer of what the peer sent. Sockets are non-blocking and
 * serviced by the pool's workers; no thread per call.
 */
#include "modem/line.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "modem/audiosocket.h"
#include "modem/elapsed.h"
#include "modem/hostport.h"

#define AS_UUID_TIMEOUT_S 5          /* connected, but no UUID frame: not a call */
#define AS_SILENCE_TIMEOUT_S 30      /* no bytes at all mid-call: the line is dead */
#define AS_RX_FIFO (2 * 8000)        /* samples buffered from the peer (2 s) */
#define AS_PRIME_SAMPLES (2 * LINE_BLOCK) /* jitter buffer depth before we play */
#define AS_TX_CAP (16000 + 64 * AS_HEADER_LEN) /* ~1 s of our audio the peer has not taken */
#define AS_READ_CHUNK 4096

struct line_call {
    int fd;
    bool unpaced;
    enum line_state state;
    struct as_parser parser;
    uint8_t backlog[AS_READ_CHUNK]; /* read, but held back until the call is set up */
    size_t backlog_len;
    char uuid[37];
    char peer[64];              /* for log lines: "127.0.0.1:40312" */
    char error[160];
    int16_t fifo[AS_RX_FIFO];   /* the peer's audio, not yet played */
    int fifo_len;
    bool primed;                /* the jitter buffer filled once */
    long dropped;               /* samples lost to a full fifo */
    uint8_t tx[AS_TX_CAP];
    size_t tx_len;
    struct timespec connected, last_rx;
};

int audiosocket_listen(const char *hostport, int *port_out, char *err, size_t errlen)
{
    char host[128], port[16];
    if (hostport_split(hostport, HOSTPORT_PORT_REQUIRED, host, sizeof host, port, sizeof port) != 0) {
        snprintf(err, errlen, "bad listen address \"%s\"; use audiosocket:HOST:PORT, e.g. audiosocket:127.0.0.1:9092",
                 hostport);
        return -EINVAL;
    }
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE };
    struct addrinfo *ai = NULL;
    int gai = getaddrinfo(host, port, &hints, &ai);
    if (gai != 0) {
        snprintf(err, errlen, "cannot listen for AudioSocket on %s: %s", hostport, gai_strerror(gai));
        return -EINVAL;
    }
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1, rc = 0;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0
        || bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 64) != 0)
        rc = -errno;
    freeaddrinfo(ai);
    if (rc != 0) {
        snprintf(err, errlen, "cannot listen for AudioSocket on %s: %s; choose another address or port with "
                 "--listen audiosocket:HOST:PORT", hostport, strerror(-rc));
        if (fd >= 0)
            close(fd);
        return rc;
    }
    struct sockaddr_storage sa;
    socklen_t len = sizeof sa;
    *port_out = -1;
    if (getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
        *port_out = sa.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&sa)->sin6_port)
                                             : ntohs(((struct sockaddr_in *)&sa)->sin_port);
    return fd;
}

struct line_call *audiosocket_call_new(int fd, const char *peer)
{
    struct line_call *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->fd = fd;
    c->state = LINE_DIALING;
    as_parser_init(&c->parser);
    c->parser.pause_after_uuid = true; /* a bad frame right after it ends a call, not a connection */
    snprintf(c->peer, sizeof c->peer, "%s", peer ? peer : "");
    clock_gettime(CLOCK_MONOTONIC, &c->connected);
    c->last_rx = c->connected;
    return c;
}

static void as_end(struct line_call *c, enum line_state st, const char *why)
{
    if (c->state != LINE_DIALING && c->state != LINE_ANSWERED)
        return;
    c->state = st;
    if (why)
        snprintf(c->error, sizeof c->error, "%s", why);
}

static void as_on_frame(void *user, const struct as_frame *f)
{
    struct line_call *c = user;
    switch (f->type) {
    case AS_TYPE_UUID:
        as_uuid_text(f->payload, c->uuid);
        c->state = LINE_ANSWERED;
        break;
    case AS_TYPE_AUDIO:
        for (int i = 0; i + 1 < f->len; i += 2) {
            if (c->fifo_len == AS_RX_FIFO) {
                c->dropped += (f->len - i) / 2;
                break;
            }
            c->fifo[c->fifo_len++] = (int16_t)(uint16_t)(f->payload[i] | f->payload[i + 1] << 8);
        }
        break;
    case AS_TYPE_HANGUP:
        as_end(c, LINE_HUNG_UP, NULL);
        break;
    case AS_TYPE_ERROR:
        as_end(c, LINE_HUNG_UP, "the caller's side reported an error");
        break;
    default:
        break; /* DTMF: nothing to do on a fax call */
    }
}

/* Parses bytes; what the parser holds back (after the UUID) waits in
 * the backlog for the next fill. Returns false when reading must stop. */
static bool as_take_bytes(struct line_call *c, const uint8_t *buf, size_t len)
{
    long used = as_parse(&c->parser, buf, len, as_on_frame, c);
    if (used < 0) {
        as_end(c, LINE_FAILED, c->parser.error);
        return false;
    }
    if ((size_t)used < len) {
        memmove(c->backlog, buf + used, len - (size_t)used);
        c->backlog_len = len - (size_t)used;
        return false;
    }
    return true;
}

/* Reads what the peer sent, while the fifo has room (TCP holds the rest). */
static void as_fill(struct line_call *c)
{
    uint8_t buf[AS_READ_CHUNK];
    if (c->backlog_len > 0 && c->state == LINE_ANSWERED) {
        size_t n = c->backlog_len;
        memcpy(buf, c->backlog, n);
        c->backlog_len = 0;
        as_take_bytes(c, buf, n);
    }
    while (c->fd >= 0 && c->backlog_len == 0 && (c->state == LINE_DIALING || c->state == LINE_ANSWERED)
           && c->fifo_len + AS_MAX_AUDIO / 2 <= AS_RX_FIFO) {
        ssize_t r = recv(c->fd, buf, sizeof buf, MSG_DONTWAIT);
        if (r == 0) {
            as_end(c, LINE_HUNG_UP, NULL);
            break;
        }
        if (r < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                as_end(c, LINE_HUNG_UP, strerror(errno));
            break;
        }
        clock_gettime(CLOCK_MONOTONIC, &c->last_rx);
        if (!as_take_bytes(c, buf, (size_t)r))
            break;
    }
    if (c->state == LINE_DIALING && elapsed_seconds(&c->connected) > AS_UUID_TIMEOUT_S)
        as_end(c, LINE_FAILED, "no call UUID frame within 5 s");
    else if (c->state == LINE_ANSWERED && elapsed_seconds(&c->last_rx) > AS_SILENCE_TIMEOUT_S)
        as_end(c, LINE_HUNG_UP, "nothing received for 30 s");
}

static void as_flush(struct line_call *c)
{
    while (c->tx_len > 0 && c->fd >= 0) {
        ssize_t w = send(c->fd, c->tx, c->tx_len, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (w > 0) {
            memmove(c->tx, c->tx + w, c->tx_len - (size_t)w);
            c->tx_len -= (size_t)w;
            continue;
        }
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
            c->tx_len = 0;
            as_end(c, LINE_HUNG_UP, strerror(errno));
        }
        return;
    }
}

static enum line_state as_state(struct line_call *c)
{
    return c->state;
}

static int as_take(struct line_call *c, int16_t *buf, int n)
{
    memcpy(buf, c->fifo, sizeof(int16_t) * (size_t)n);
    memmove(c->fifo, c->fifo + n, sizeof(int16_t) * (size_t)(c->fifo_len - n));
    c->fifo_len -= n;
    return n;
}

/* Paced: always a whole block once answered, from the jitter buffer,
 * silence where the peer's audio is late. */
static int as_read_paced(struct line_call *c, int16_t *buf, int max)
{
    as_fill(c);
    as_flush(c);
    if (c->state == LINE_DIALING)
        return 0;
    if (c->state != LINE_ANSWERED)
        return -1;
    if (!c->primed && c->fifo_len < AS_PRIME_SAMPLES) {
        memset(buf, 0, sizeof(int16_t) * (size_t)max);
        return max;
    }
    c->primed = true;
    int n = c->fifo_len < max ? c->fifo_len : max;
    as_take(c, buf, n);
    if (n < max) {
        memset(buf + n, 0, sizeof(int16_t) * (size_t)(max - n));
        c->primed = false; /* an underrun: build the buffer up again */
    }
    return max;
}

/* Unpaced (tests): exactly as many samples back as arrived. */
static int as_read_unpaced(struct line_call *c, int16_t *buf, int max)
{
    as_fill(c);
    as_flush(c);
    if (c->fifo_len > 0 && c->state == LINE_ANSWERED)
        return as_take(c, buf, c->fifo_len < max ? c->fifo_len : max);
    return c->state == LINE_DIALING || c->state == LINE_ANSWERED ? 0 : -1;
}

static void as_write(struct line_call *c, const int16_t *buf, int n)
{
    if (c->state != LINE_ANSWERED)
        return;
    for (int off = 0; off < n; off += LINE_BLOCK) {
        int len = n - off < LINE_BLOCK ? n - off : LINE_BLOCK;
        size_t need = AS_HEADER_LEN + 2 * (size_t)len;
        if (c->tx_len + need > sizeof c->tx)
            break; /* the peer stopped reading: drop rather than grow */
        as_put_header(c->tx + c->tx_len, AS_TYPE_AUDIO, (uint16_t)(2 * len));
        c->tx_len += AS_HEADER_LEN;
        for (int i = 0; i < len; i++) {
            uint16_t v = (uint16_t)buf[off + i];
            c->tx[c->tx_len++] = (uint8_t)(v & 0xff);
            c->tx[c->tx_len++] = (uint8_t)(v >> 8);
        }
    }
    as_flush(c);
}

static int as_poll_fd(struct line_call *c)
{
    return c->fd;
}

/* Tells the peer we hang up (unless it already did, or is talking
 * nonsense), then closes. */
static void as_hangup(struct line_call *c)
{
    if (c->fd >= 0) {
        if (c->state == LINE_ANSWERED || c->state == LINE_DIALING) {
            as_flush(c);
            uint8_t bye[AS_HEADER_LEN];
            as_put_header(bye, AS_TYPE_HANGUP, 0);
            ssize_t w = send(c->fd, bye, sizeof bye, MSG_DONTWAIT | MSG_NOSIGNAL);
            (void)w; /* best effort: closing says the same */
        }
        close(c->fd);
    }
    free(c);
}

static const char *as_caller_id(struct line_call *c)
{
    (void)c;
    return ""; /* AudioSocket does not carry the calling number */
}

static const char *as_call_ref(struct line_call *c)
{
    return c->uuid;
}

static const char *as_error_text(struct line_call *c)
{
    return c->error;
}

const struct line_driver line_audiosocket_driver = {
    .name = "audiosocket",
    .clock = LINE_CLOCK_REALTIME,
    .state = as_state,
    .read = as_read_paced,
    .write = as_write,
    .poll_fd = as_poll_fd,
    .hangup = as_hangup,
    .caller_id = as_caller_id,
    .call_ref = as_call_ref,
    .error_text = as_error_text,
};

const struct line_driver line_audiosocket_unpaced_driver = {
    .name = "audiosocket",
    .clock = LINE_CLOCK_FD,
    .state = as_state,
    .read = as_read_unpaced,
    .write = as_write,
    .poll_fd = as_poll_fd,
    .hangup = as_hangup,
    .caller_id = as_caller_id,
    .call_ref = as_call_ref,
    .error_text = as_error_text,
};
