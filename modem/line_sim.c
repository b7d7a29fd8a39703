/*
 * line_sim.c - the simulated phone network ("--line sim"). Dialing a
 * number reaches a simulated fax machine in this process: a spandsp
 * receiver that stores what it got as sim_dir/<number>/<seq>.tif. A few
 * reserved numbers misbehave on purpose (sim_rules below) so every retry
 * path of the queue can be exercised without a telephone.
 * Dialing the server's own station number loops back: the call is
 * answered by the pool's inbound receiver (receiver.c), run on the
 * caller's worker like any simulated machine, and the fax arrives
 * through the inbound callbacks instead of sim_dir.
 * Every call ends with one line in sim_dir/calls.log (see sim_record).
 */
#include "modem/line.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <tiffio.h>
#include <spandsp.h>

#include "modem/receiver.h"

enum sim_kind {
    SIM_FAX,          /* a normal, modern fax machine */
    SIM_BUSY,
    SIM_NO_ANSWER,
    SIM_PERSON,       /* answers with silence: T.30 never sees a fax */
    SIM_ONE_PAGE,     /* odd calls: confirm one page, then hang up */
    SIM_BUSY_TWICE,   /* busy, busy, answer, busy, busy, answer... */
    SIM_NOISY,        /* noise on the line: training falls back below 14400 */
    SIM_OLD,          /* no ECM, T.4 1D only, at most 9600 bps */
    SIM_LOOPBACK,     /* our own station number: the inbound receiver answers */
};

static const struct sim_rule {
    const char *number;
    enum sim_kind kind;
    const char *help;
} sim_rules[] = {
    { "5550101", SIM_BUSY, "busy" },
    { "5550102", SIM_NO_ANSWER, "rings, nobody answers" },
    { "5550103", SIM_PERSON, "a person answers, not a fax machine" },
    { "5550104", SIM_ONE_PAGE, "odd calls: confirms the first page, then hangs up; even calls: normal" },
    { "5550105", SIM_BUSY_TWICE, "busy on two calls, then a fax machine (repeats)" },
    { "5550106", SIM_NOISY, "noisy line: succeeds at a lower speed than 14400 bps" },
    { "5550107", SIM_OLD, "an old machine: no ECM, T.4 1D only, at most 9600 bps" },
};

/* Line time, in samples, that the network takes before an outcome. */
#define SIM_RING_SAMPLES (2 * 8000)       /* one ring, then the machine answers (--sim-setup-time) */
#define SIM_NO_ANSWER_SAMPLES (30 * 8000) /* give up after ringing 30 s */
#define SIM_HANGUP_GRACE (10 * 8000)      /* 5550104: drop even if the MCF never ends */
/* 5550106: noise on the signal towards the receiver, ~21 dB below the
 * sender's level: V.17 14400 fails its training check, 12000 passes. */
#define SIM_NOISE_DBM0 (-35.0f)

struct sim_number {
    char number[32];
    unsigned calls;      /* dialed so far by this pool: drives the cycles */
    unsigned next_seq;   /* next file name; 0 = not yet scanned */
    struct sim_number *next;
};

struct line {
    char *sim_dir;
    struct inbound_hub *hub; /* NULL: the station number is just a number */
    long ring_samples;    /* line time from dial to answer */
    pthread_mutex_t lock; /* protects numbers (dialed from several workers) */
    struct sim_number *numbers;
    int calls_fd;         /* sim_dir/calls.log, append only; -1: not kept */
};

struct line_call {
    struct line *line;
    enum sim_kind kind;        /* after resolving the per-call cycle */
    enum line_state state;
    long samples;              /* line time since dial */
    fax_state_t *fax;          /* the receiving machine; NULL for a person */
    awgn_state_t *noise;       /* SIM_NOISY only */
    bool rx_done;              /* receiver's phase E fired: it is silent now */
    bool hangup_armed;         /* SIM_ONE_PAGE: a page was confirmed */
    bool mcf_started;          /* ... and the confirmation went out */
    long hangup_deadline;
    int pages_rx;
    struct receiver *rx;       /* SIM_LOOPBACK: our own inbound receiver */
    int slot;                  /* ... and the inbound slot it holds */
    long long start_us;        /* wall clock at dial, for calls.log */
    char number[32];
    char part_path[PATH_MAX];
    char final_path[PATH_MAX];
};

static const char *sim_kind_name(enum sim_kind kind)
{
    switch (kind) {
    case SIM_FAX: return "fax";
    case SIM_BUSY: return "busy";
    case SIM_NO_ANSWER: return "no_answer";
    case SIM_PERSON: return "person";
    case SIM_ONE_PAGE: return "drop";
    case SIM_BUSY_TWICE: return "busy_twice";
    case SIM_NOISY: return "noisy";
    case SIM_OLD: return "old";
    case SIM_LOOPBACK: return "loopback";
    }
    return "?";
}

static long long sim_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* One line per call in calls.log when it ends: wall-clock microseconds at
 * dial and at hangup, the number, how this call behaved (busy, drop, fax,
 * ...) and the pages the machine received. One write() to an O_APPEND
 * file, so the lines of concurrent calls (and of several lines sharing the
 * directory) never interleave. Several daemons' logs can be merged by time
 * to see how many calls to one number overlapped. A call cut by the
 * process's death leaves no line. */
static void sim_record(const struct line_call *c)
{
    if (c->line->calls_fd < 0)
        return;
    char buf[160];
    int n = snprintf(buf, sizeof buf, "%lld %lld %s %s %d\n", c->start_us, sim_now_us(), c->number,
                     sim_kind_name(c->kind), c->pages_rx);
    if (n > 0 && (size_t)n < sizeof buf && write(c->line->calls_fd, buf, (size_t)n) != n) {
        /* a record lost (disk full): the call itself is not affected */
    }
}

static const struct sim_rule *sim_rule_for(const char *number)
{
    for (size_t i = 0; i < sizeof sim_rules / sizeof sim_rules[0]; i++)
        if (strcmp(sim_rules[i].number, number) == 0)
            return &sim_rules[i];
    return NULL;
}

static char sim_help_text[1024];

static void sim_help_build(void)
{
    size_t off = 0;
    for (size_t i = 0; i < sizeof sim_rules / sizeof sim_rules[0] && off < sizeof sim_help_text; i++)
        off += (size_t)snprintf(sim_help_text + off, sizeof sim_help_text - off, "  %s  %s\n",
                                sim_rules[i].number, sim_rules[i].help);
    if (off < sizeof sim_help_text)
        snprintf(sim_help_text + off, sizeof sim_help_text - off, "  any other number: a normal fax machine\n");
}

const char *modem_sim_numbers_help(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, sim_help_build);
    return sim_help_text;
}

/* Numbers become directory names: only a leading + and digits pass. */
static bool sim_number_is_safe(const char *number)
{
    size_t n = strlen(number);
    if (n == 0 || n >= sizeof ((struct sim_number *)0)->number)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((number[i] >= '0' && number[i] <= '9') || (i == 0 && number[i] == '+')))
            return false;
    return n > 1 || number[0] != '+';
}

static unsigned sim_scan_next_seq(const char *dir)
{
    unsigned max = 0;
    DIR *d = opendir(dir);
    if (!d)
        return 1;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        char *end;
        unsigned long v = strtoul(e->d_name, &end, 10);
        if (end != e->d_name && strcmp(end, ".tif") == 0 && v > max && v < UINT_MAX)
            max = (unsigned)v;
    }
    closedir(d);
    return max + 1;
}

/* Counts this dial and reserves a file name; called with line->lock held. */
static struct sim_number *sim_number_get(struct line *line, const char *number)
{
    struct sim_number *n;
    for (n = line->numbers; n; n = n->next)
        if (strcmp(n->number, number) == 0)
            return n;
    n = calloc(1, sizeof *n);
    if (!n)
        return NULL;
    snprintf(n->number, sizeof n->number, "%s", number);
    n->next = line->numbers;
    line->numbers = n;
    return n;
}

static int sim_create(struct line **out, const struct line_config *cfg, char *err, size_t errlen)
{
    if (!cfg->sim_dir || !*cfg->sim_dir) {
        snprintf(err, errlen, "the simulated network needs a directory for received pages (sim_dir)");
        return -EINVAL;
    }
    if (mkdir(cfg->sim_dir, 0755) != 0 && errno != EEXIST) {
        int e = errno;
        snprintf(err, errlen, "cannot create %s: %s", cfg->sim_dir, strerror(e));
        return -e;
    }
    struct line *line = calloc(1, sizeof *line);
    if (!line || !(line->sim_dir = strdup(cfg->sim_dir))) {
        free(line);
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    pthread_mutex_init(&line->lock, NULL);
    char log_path[PATH_MAX];
    line->calls_fd = -1;
    if ((size_t)snprintf(log_path, sizeof log_path, "%s/calls.log", cfg->sim_dir) < sizeof log_path)
        line->calls_fd = open(log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    line->hub = cfg->hub;
    line->ring_samples = cfg->sim_setup_seconds > 0 ? (long)cfg->sim_setup_seconds * 8000 : SIM_RING_SAMPLES;
    *out = line;
    return 0;
}

static void sim_destroy(struct line *line)
{
    while (line->numbers) {
        struct sim_number *n = line->numbers;
        line->numbers = n->next;
        free(n);
    }
    pthread_mutex_destroy(&line->lock);
    if (line->calls_fd >= 0)
        close(line->calls_fd);
    free(line->sim_dir);
    free(line);
}

/* Receiver handlers run inside its fax_rx/fax_tx: they only set flags. */
static int sim_rx_phase_d(t30_state_t *t30, void *user, int result)
{
    (void)result;
    struct line_call *c = user;
    t30_stats_t st;
    t30_get_transfer_statistics(t30, &st);
    c->pages_rx = st.pages_rx;
    if (c->kind == SIM_ONE_PAGE && st.pages_rx >= 1 && !c->hangup_armed) {
        c->hangup_armed = true;
        c->hangup_deadline = c->samples + SIM_HANGUP_GRACE;
    }
    return T30_ERR_OK;
}

static void sim_rx_phase_e(t30_state_t *t30, void *user, int code)
{
    (void)code;
    struct line_call *c = user;
    t30_stats_t st;
    t30_get_transfer_statistics(t30, &st);
    c->pages_rx = st.pages_rx;
    c->rx_done = true;
}

static int sim_start_receiver(struct line_call *c, const char *number)
{
    c->fax = fax_init(NULL, 0);
    if (!c->fax)
        return -ENOMEM;
    fax_set_transmit_on_idle(c->fax, 0);
    t30_state_t *t30 = fax_get_t30_state(c->fax);
    bool old = c->kind == SIM_OLD;
    char csi[21];
    snprintf(csi, sizeof csi, "%s", number);
    t30_set_tx_ident(t30, csi);
    t30_set_ecm_capability(t30, !old);
    t30_set_supported_compressions(t30, old ? T30_SUPPORT_T4_1D_COMPRESSION
                                            : T30_SUPPORT_T4_1D_COMPRESSION | T30_SUPPORT_T4_2D_COMPRESSION
                                                  | T30_SUPPORT_T6_COMPRESSION);
    t30_set_supported_modems(t30, old ? T30_SUPPORT_V27TER | T30_SUPPORT_V29
                                      : T30_SUPPORT_V27TER | T30_SUPPORT_V29 | T30_SUPPORT_V17);
    t30_set_rx_encoding(t30, T4_COMPRESSION_ITU_T6);
    t30_set_rx_file(t30, c->part_path, -1);
    t30_set_phase_d_handler(t30, sim_rx_phase_d, c);
    t30_set_phase_e_handler(t30, sim_rx_phase_e, c);
    if (c->kind == SIM_NOISY && !(c->noise = awgn_init_dbm0(NULL, 1234567, SIM_NOISE_DBM0)))
        return -ENOMEM;
    return 0;
}

/* Resolves this call's behaviour from the number and how often it was dialed. */
static enum sim_kind sim_kind_for_call(enum sim_kind kind, unsigned call_no)
{
    switch (kind) {
    case SIM_BUSY_TWICE: return call_no % 3 == 0 ? SIM_FAX : SIM_BUSY;
    case SIM_ONE_PAGE: return call_no % 2 == 1 ? SIM_ONE_PAGE : SIM_FAX;
    default: return kind;
    }
}

/* Our own number: an inbound slot and the daemon's consent, or busy. */
static int sim_dial_loopback(struct line *line, const char *number, struct line_call **out)
{
    struct line_call *c = calloc(1, sizeof *c);
    if (!c)
        return -ENOMEM;
    c->line = line;
    c->state = LINE_DIALING;
    c->kind = SIM_BUSY;
    c->start_us = sim_now_us();
    snprintf(c->number, sizeof c->number, "%s", number);
    c->slot = inbound_slot_take(line->hub);
    if (c->slot < 0) {
        inbound_notice(line->hub, "loopback call refused: every inbound line is busy");
    } else if ((c->rx = receiver_start(line->hub, c->slot, "sim", number, number, "")) == NULL) {
        inbound_slot_release(line->hub, c->slot);
        c->slot = -1;
    } else {
        c->kind = SIM_LOOPBACK;
    }
    *out = c;
    return 0;
}

static int sim_dial(struct line *line, const char *number, struct line_call **out)
{
    if (!sim_number_is_safe(number))
        return -EINVAL;
    if (inbound_is_station(line->hub, number))
        return sim_dial_loopback(line, number, out);
    const struct sim_rule *rule = sim_rule_for(number);
    char dir[PATH_MAX - 32]; /* room for "/.<seq>.tif.part" */
    if ((size_t)snprintf(dir, sizeof dir, "%s/%s", line->sim_dir, number) >= sizeof dir)
        return -ENAMETOOLONG;
    struct line_call *c = calloc(1, sizeof *c);
    if (!c)
        return -ENOMEM;
    c->line = line;
    c->state = LINE_DIALING;
    c->slot = -1;
    c->start_us = sim_now_us();
    snprintf(c->number, sizeof c->number, "%s", number);

    pthread_mutex_lock(&line->lock);
    struct sim_number *n = sim_number_get(line, number);
    unsigned call_no = 0, seq = 0;
    if (n) {
        call_no = ++n->calls;
        if (n->next_seq == 0)
            n->next_seq = sim_scan_next_seq(dir);
        seq = n->next_seq++;
    }
    pthread_mutex_unlock(&line->lock);
    if (!n) {
        free(c);
        return -ENOMEM;
    }
    c->kind = sim_kind_for_call(rule ? rule->kind : SIM_FAX, call_no);
    snprintf(c->part_path, sizeof c->part_path, "%s/.%u.tif.part", dir, seq);
    snprintf(c->final_path, sizeof c->final_path, "%s/%u.tif", dir, seq);
    *out = c;
    if (c->kind == SIM_BUSY || c->kind == SIM_NO_ANSWER || c->kind == SIM_PERSON)
        return 0;
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        int e = errno;
        free(c);
        return -e;
    }
    /* The receiver creates this file when the DCS arrives, in the middle
     * of the call's tick; creating the inode now (the dial may run off the
     * pool's tick) leaves spandsp only an open of an existing file. */
    int part = open(c->part_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (part >= 0)
        close(part);
    int rc = sim_start_receiver(c, number);
    if (rc != 0) {
        unlink(c->part_path);
        if (c->fax)
            fax_free(c->fax);
        if (c->noise)
            awgn_free(c->noise);
        free(c);
        return rc;
    }
    return 0;
}

static enum line_state sim_state(struct line_call *c)
{
    return c->state;
}

/* Ringing: the outcome arrives after some line time, as on a real network. */
static void sim_ring(struct line_call *c)
{
    if (c->kind == SIM_BUSY)
        c->state = LINE_BUSY;
    else if (c->kind == SIM_NO_ANSWER && c->samples >= SIM_NO_ANSWER_SAMPLES)
        c->state = LINE_NO_ANSWER;
    else if (c->kind != SIM_NO_ANSWER && c->samples >= c->line->ring_samples)
        c->state = LINE_ANSWERED;
}

/* Noise rides on the signal only: continuous noise would look like a
 * carrier to the V.21 detectors and hold the T.30 timers forever. */
static void sim_add_noise(struct line_call *c, int16_t *buf, int n)
{
    bool signal = false;
    for (int i = 0; i < n && !signal; i++)
        signal = buf[i] != 0;
    if (!signal)
        return;
    for (int i = 0; i < n; i++) {
        int v = buf[i] + awgn(c->noise);
        buf[i] = (int16_t)(v > INT16_MAX ? INT16_MAX : v < INT16_MIN ? INT16_MIN : v);
    }
}

static int sim_read(struct line_call *c, int16_t *buf, int max)
{
    if (c->state == LINE_DIALING) {
        c->samples += max;
        sim_ring(c);
        return 0;
    }
    if (c->state != LINE_ANSWERED)
        return -1;
    c->samples += max;
    if (c->rx) {
        receiver_tx(c->rx, buf, max);
        receiver_service(c->rx);
        return max;
    }
    int n = 0;
    if (c->fax && !c->rx_done)
        n = fax_tx(c->fax, buf, max);
    if (n < max)
        memset(buf + n, 0, sizeof(int16_t) * (size_t)(max - n));
    /* SIM_ONE_PAGE: hang up once the confirmation has been sent. */
    if (c->hangup_armed) {
        if (n == max)
            c->mcf_started = true;
        else if (c->mcf_started || c->samples >= c->hangup_deadline)
            c->state = LINE_HUNG_UP;
    }
    return max;
}

static void sim_write(struct line_call *c, const int16_t *buf, int n)
{
    if (c->rx && c->state == LINE_ANSWERED) {
        receiver_rx(c->rx, buf, n);
        receiver_service(c->rx);
        return;
    }
    if (!c->fax || c->rx_done || c->state != LINE_ANSWERED)
        return;
    int16_t in[LINE_BLOCK];
    for (int off = 0; off < n; off += LINE_BLOCK) {
        int len = n - off < LINE_BLOCK ? n - off : LINE_BLOCK;
        memcpy(in, buf + off, sizeof(int16_t) * (size_t)len); /* fax_rx may modify its input */
        if (c->noise)
            sim_add_noise(c, in, len);
        fax_rx(c->fax, in, len);
    }
}

static int sim_poll_fd(struct line_call *c)
{
    (void)c;
    return -1;
}

/* The received file becomes visible under its final name only when the
 * receiver has closed it, so a reader never sees a half-written TIFF. */
static void sim_hangup(struct line_call *c)
{
    if (c->rx) {
        receiver_end(c->rx, receiver_done(c->rx) ? RECEIVER_END_T30 : RECEIVER_END_HUNG_UP, NULL, NULL);
        inbound_slot_release(c->line->hub, c->slot);
    }
    if (c->fax) {
        t30_state_t *t30 = fax_get_t30_state(c->fax);
        if (!c->rx_done)
            t30_terminate(t30);
        t30_stats_t st;
        t30_get_transfer_statistics(t30, &st);
        if (st.pages_rx > c->pages_rx)
            c->pages_rx = st.pages_rx;
        fax_free(c->fax);
        if (c->pages_rx > 0)
            rename(c->part_path, c->final_path);
        else
            unlink(c->part_path);
    }
    if (c->noise)
        awgn_free(c->noise);
    sim_record(c);
    free(c);
}

const struct line_driver line_sim_driver = {
    .name = "sim",
    .clock = LINE_CLOCK_POOL,
    .create = sim_create,
    .destroy = sim_destroy,
    .dial = sim_dial,
    .state = sim_state,
    .read = sim_read,
    .write = sim_write,
    .poll_fd = sim_poll_fd,
    .hangup = sim_hangup,
    .maintain = NULL,
};
