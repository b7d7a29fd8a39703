/*
 * pool.c - the modem pool: channels, and a few DSP worker threads that
 * each service many channels per tick (never one thread per call).
 * Channel i belongs to worker i % workers for its whole life. At fast
 * pace a worker loops over its calls as fast as the CPU allows; at
 * real-time pace it runs one 160-sample tick per call every 20 ms on an
 * absolute schedule. Calls on fd-clocked lines (exec) are serviced when
 * their audio arrives (ppoll), whatever the pace; calls on real-time
 * lines (AudioSocket) get one block per 20 ms of wall clock on a second
 * schedule of the same worker, whatever the pace.
 * Inbound calls run on inbound channels ("in0"...), separate from the
 * outbound ones and spread over the workers the same way; worker 0 also
 * accepts AudioSocket connections. SIP calls are offered by the SIP
 * listener's own signalling thread and handed to a worker the same way.
 * Work that is not DSP and takes milliseconds (dialing, answering, a page
 * about to be encoded: session_may_block) would hold up every call of the
 * worker's tick; on clocked lines at real-time pace the worker hands such
 * a service to the pool's preparation lane instead: a few threads of lower
 * priority. Only that call waits (its ticks are skipped, and counted);
 * the tick goes on for the others.
 */
#include "modem/modem.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "modem/admission.h"
#include "modem/line.h"
#include "modem/receiver.h"
#include "modem/session.h"
#include "modem/session_inbound.h"
#include "modem/sip_ua.h"
#include "modem/tiff_join.h"

#define TICK_NS 20000000L          /* one block of 160 samples at 8 kHz */
#define FD_IDLE_WAIT_MS 100        /* re-check fd-clocked calls (timeouts, reaping) */
#define RESYNC_NS 1000000000L      /* more than 1 s behind: restart the schedule */
#define ACCEPT_EVERY_LOOPS 64      /* fast pace: look for connections this often */
#define ACCEPT_PER_PASS 16         /* connections taken per look */
#define LANE_NICE 10               /* the preparation lane yields to the DSP workers... */
#define LANE_NICE_RT 0             /* ... which, at a real-time priority, always win anyway */

/* Where a channel's session is serviced. */
enum lane_state {
    LANE_NONE,                 /* on its worker */
    LANE_BUSY,                 /* queued on or run by the preparation lane */
    LANE_BACK,                 /* the lane ran it: the worker takes it back */
    LANE_OVER,                 /* ... and the call is over: the worker retires it */
};

struct worker;

struct channel {
    int index;
    char name[16];
    int line;                  /* outbound channels: index into pool->lines; -1 inbound */
    struct worker *worker;
    atomic_bool busy;          /* a call was accepted and has not finished */
    atomic_bool abort_requested; /* modem_abort on an adopted call */
    struct session *session;   /* owned by the worker once handed over */
    struct session *pending;   /* handed over by modem_send; guarded by worker->lock */
    atomic_int lane;           /* enum lane_state: the lane owns the session while LANE_BUSY */
};

/* The preparation lane: a FIFO of channels whose next service may block. */
struct lane {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct channel **q;        /* ring of cap entries: a channel is queued at most once */
    int head, count, cap;
    bool stop;
    atomic_int nice;           /* the lane threads' nice value; each applies changes itself */
    pthread_t *threads;
    int nthreads;              /* started */
};

struct worker {
    struct modem_pool *pool;
    pthread_t thread;
    int wake_fd;               /* eventfd: new call, abort, shutdown */
    pthread_mutex_t lock;      /* protects the channels' pending pointers */
    atomic_bool has_pending;   /* cheap check before taking the lock */
    struct channel **channels; /* the channels of this worker */
    int nchannels;
    struct channel **active;   /* worker-private: channels with a session */
    int nactive;
    struct pollfd *pfds;       /* worker-private poll set */
    struct timespec next_tick; /* pool-clocked calls at real-time pace */
    struct timespec next_rt;   /* real-time lines, whatever the pace */
    int listen_fd;             /* worker 0 only: the AudioSocket listener; else -1 */
    unsigned loops;
    struct timespec fd_sweep;  /* last time every fd-clocked call was looked at */
};

/* One named line: its driver instance, its settings and its channels
 * (first .. first + count - 1, in configuration order). */
struct pool_line {
    const struct line_driver *driver;
    struct line *line;         /* NULL until created */
    char *tsid;                /* NULL: none */
    char *header;              /* NULL: none */
    struct modem_sip_options sip; /* strings owned by the pool's creator */
    int first, count;
};

struct modem_pool {
    struct pool_line *lines;
    int nlines;
    enum modem_pace pace;
    char *scratch_dir;
    char header_tz[32];
    atomic_bool stopping;
    atomic_uint call_seq;      /* names scratch files */
    atomic_long overruns;      /* real-time ticks that started late */
    atomic_long lane_waits;    /* call ticks skipped while the lane prepared the call */
    atomic_long lane_runs;     /* services the lane ran */
    char priority_note[200];   /* "": dsp_priority applied or not asked for */
    struct lane lane;
    atomic_long samples_done;  /* line time of finished calls */
    struct channel *channels;  /* outbound channels, then inbound ones */
    int nchannels;             /* outbound */
    int ninbound;              /* inbound: channels[nchannels + slot] */
    struct worker *workers;
    int nworkers;
    struct inbound_hub *hub;   /* NULL: no inbound calls */
    int listen_fd;
    int listen_port;
    const struct line_driver *listen_driver;
    struct sip_listener *sip_listener; /* NULL: no SIP listener */
    pthread_mutex_t offer_lock;        /* orders SIP hand-overs before the stop, so none is left behind;
                                        * protects sip_refusals */
    struct refusal_log sip_refusals;   /* "every line busy" lines about SIP callers */
    struct peer_acl audiosocket_allow; /* who may connect to the AudioSocket listener */
    struct refusal_log as_refusals;    /* worker 0 only: refused AudioSocket connections */
    const char *sip_listen_spec;       /* during create only: opened once the workers run */
    atomic_bool workers_run;           /* SIP calls may be handed over (a registered line's come early) */
};

static void worker_wake(struct worker *w)
{
    uint64_t one = 1;
    ssize_t r = write(w->wake_fd, &one, sizeof one);
    (void)r; /* EAGAIN means a wake-up is already pending */
}

static void worker_drain_wake(struct worker *w)
{
    uint64_t v;
    ssize_t r = read(w->wake_fd, &v, sizeof v);
    (void)r;
}

static bool worker_may_use_lane(const struct worker *w, enum line_clock clk);

/* Takes calls handed over by modem_send into the active set. */
static void worker_take_pending(struct worker *w)
{
    if (!atomic_exchange(&w->has_pending, false))
        return;
    pthread_mutex_lock(&w->lock);
    for (int i = 0; i < w->nchannels; i++) {
        struct channel *ch = w->channels[i];
        if (ch->pending && !ch->session) {
            if (worker_may_use_lane(w, session_clock(ch->pending)))
                session_allow_deferral(ch->pending);
            ch->session = ch->pending;
            ch->pending = NULL;
            w->active[w->nactive++] = ch;
        }
    }
    pthread_mutex_unlock(&w->lock);
}

/* The channel is idle again before finished() runs, so the engine may
 * hand it the next call from its own thread as soon as it hears. */
static void worker_retire(struct worker *w, int slot)
{
    struct channel *ch = w->active[slot];
    struct session *s = ch->session;
    atomic_fetch_add(&w->pool->samples_done, session_samples(s));
    ch->session = NULL;
    w->active[slot] = w->active[--w->nactive];
    atomic_store(&ch->busy, false);
    session_finish(s);
    session_free(s);
}

static void timespec_add_ns(struct timespec *t, long ns)
{
    t->tv_nsec += ns;
    while (t->tv_nsec >= 1000000000L) {
        t->tv_nsec -= 1000000000L;
        t->tv_sec++;
    }
}

static long timespec_diff_ns(const struct timespec *a, const struct timespec *b)
{
    return (a->tv_sec - b->tv_sec) * 1000000000L + (a->tv_nsec - b->tv_nsec);
}

/* Real-time pace: is a tick due now? Keeps an absolute schedule so
 * ticks do not drift; a late tick counts as an overrun. */
static bool worker_tick_due(struct worker *w, struct timespec *next, long *wait_ns)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    long ahead = timespec_diff_ns(next, &now);
    if (ahead > 0) {
        *wait_ns = ahead;
        return false;
    }
    if (-ahead > TICK_NS / 2)
        atomic_fetch_add(&w->pool->overruns, 1);
    if (-ahead > RESYNC_NS)
        *next = now;
    timespec_add_ns(next, TICK_NS);
    *wait_ns = 0;
    return true;
}

/* Which clocks the worker's calls run on. */
struct worker_mix {
    bool pool, realtime, fd;
};

static struct worker_mix worker_mix(struct worker *w)
{
    struct worker_mix m = { false, false, false };
    for (int i = 0; i < w->nactive; i++) {
        switch (session_clock(w->active[i]->session)) {
        case LINE_CLOCK_POOL: m.pool = true; break;
        case LINE_CLOCK_REALTIME: m.realtime = true; break;
        case LINE_CLOCK_FD: m.fd = true; break;
        }
    }
    return m;
}

/* Services the calls whose clock says so (readable: per active slot,
 * for fd-clocked calls). */
static void lane_push(struct modem_pool *pool, struct channel **chs, int n);

/* Clocked calls at real-time pace may wait for the lane; fast pace has no
 * tick to protect, and fd-clocked calls are serviced when audio arrives. */
static bool worker_may_use_lane(const struct worker *w, enum line_clock clk)
{
    return w->pool->lane.nthreads > 0
           && (clk == LINE_CLOCK_REALTIME || (clk == LINE_CLOCK_POOL && w->pool->pace == MODEM_PACE_REALTIME));
}

static void worker_service(struct worker *w, bool tick, bool rt_tick, const bool *readable)
{
    struct channel *to_lane[w->nactive > 0 ? w->nactive : 1];
    int nlane = 0;
    for (int i = 0; i < w->nactive;) {
        struct channel *ch = w->active[i];
        enum line_clock clk = session_clock(ch->session);
        bool run = clk == LINE_CLOCK_FD ? readable[i] : clk == LINE_CLOCK_POOL ? tick : rt_tick;
        int lane = atomic_load(&ch->lane);
        if (lane == LANE_BUSY) {
            if (run)
                atomic_fetch_add(&w->pool->lane_waits, 1);
            i++;
            continue;
        }
        if (lane != LANE_NONE) {
            atomic_store(&ch->lane, LANE_NONE);
            if (lane == LANE_OVER) {
                worker_retire(w, i);
                continue;
            }
        }
        if (atomic_exchange(&ch->abort_requested, false)) {
            session_request_abort(ch->session);
            run = true;
        }
        if (run && worker_may_use_lane(w, clk) && session_may_block(ch->session)) {
            atomic_store(&ch->lane, LANE_BUSY);
            to_lane[nlane++] = ch;
            i++;
            continue;
        }
        if (run && session_service(ch->session)) {
            worker_retire(w, i);
            continue;
        }
        i++;
    }
    if (nlane > 0)
        lane_push(w->pool, to_lane, nlane);
}

static void lane_push(struct modem_pool *pool, struct channel **chs, int n)
{
    struct lane *l = &pool->lane;
    pthread_mutex_lock(&l->lock);
    for (int i = 0; i < n; i++)
        l->q[(l->head + l->count++) % l->cap] = chs[i];
    pthread_cond_broadcast(&l->cond);
    pthread_mutex_unlock(&l->lock);
}

/* A lane thread: services queued calls once each and gives them back;
 * the worker sees the result on its next pass. */
static void *lane_main(void *arg)
{
    struct modem_pool *pool = arg;
    struct lane *l = &pool->lane;
    pthread_setname_np(pthread_self(), "faxfs-prep");
    int nice = INT_MIN;
    pthread_mutex_lock(&l->lock);
    for (;;) {
        /* Linux: a thread's nice value is its own. If it cannot be set
         * (lowering needs CAP_SYS_NICE), the old one stays: tried once. */
        int want = atomic_load(&l->nice);
        if (want != nice) {
            if (setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), want) != 0) {
                /* stays as it was */
            }
            nice = want;
        }
        while (l->count == 0 && !l->stop)
            pthread_cond_wait(&l->cond, &l->lock);
        if (l->count == 0)
            break;
        struct channel *ch = l->q[l->head];
        l->head = (l->head + 1) % l->cap;
        l->count--;
        pthread_mutex_unlock(&l->lock);
        bool over = session_service(ch->session);
        atomic_fetch_add(&pool->lane_runs, 1);
        atomic_store(&ch->lane, over ? LANE_OVER : LANE_BACK);
        pthread_mutex_lock(&l->lock);
    }
    pthread_mutex_unlock(&l->lock);
    return NULL;
}

static int lane_start(struct modem_pool *pool, int nthreads, int cap)
{
    struct lane *l = &pool->lane;
    l->q = calloc((size_t)cap, sizeof *l->q);
    l->threads = calloc((size_t)nthreads, sizeof *l->threads);
    if (!l->q || !l->threads)
        return -ENOMEM;
    l->cap = cap;
    atomic_store(&l->nice, LANE_NICE);
    for (int i = 0; i < nthreads; i++) {
        int rc = pthread_create(&l->threads[i], NULL, lane_main, pool);
        if (rc != 0)
            return -rc;
        l->nthreads = i + 1;
    }
    return 0;
}

/* After the workers are gone: nothing is queued any more. */
static void lane_stop(struct modem_pool *pool)
{
    struct lane *l = &pool->lane;
    pthread_mutex_lock(&l->lock);
    l->stop = true;
    pthread_cond_broadcast(&l->cond);
    pthread_mutex_unlock(&l->lock);
    for (int i = 0; i < l->nthreads; i++)
        pthread_join(l->threads[i], NULL);
    l->nthreads = 0;
}

/* Waits for wake-ups, connections and fd-clocked audio; fills readable
 * per active slot. Returns whether the listener has a connection. */
static bool worker_wait(struct worker *w, long timeout_ns, bool *readable)
{
    int n = 0;
    w->pfds[n++] = (struct pollfd){ .fd = w->wake_fd, .events = POLLIN };
    w->pfds[n++] = (struct pollfd){ .fd = w->listen_fd, .events = POLLIN }; /* fd -1: ignored */
    int map[w->nactive > 0 ? w->nactive : 1];
    for (int i = 0; i < w->nactive; i++) {
        int fd = session_poll_fd(w->active[i]->session);
        readable[i] = fd < 0; /* no fd yet (dialing): service on every pass */
        if (fd >= 0) {
            map[i] = n;
            w->pfds[n++] = (struct pollfd){ .fd = fd, .events = POLLIN };
        } else {
            map[i] = -1;
        }
    }
    struct timespec ts = { timeout_ns / 1000000000L, timeout_ns % 1000000000L };
    int r = ppoll(w->pfds, (nfds_t)n, timeout_ns < 0 ? NULL : &ts, NULL);
    bool all = r == 0 && timeout_ns != 0; /* a timeout: let every call check its own timers */
    bool incoming = r > 0 && w->pfds[1].revents;
    if (r > 0 && w->pfds[0].revents) {
        worker_drain_wake(w);
        all = true;    /* a new call or an abort: look at everything */
    }
    if (all) {
        for (int i = 0; i < w->nactive; i++)
            readable[i] = true;
        return incoming;
    }
    for (int i = 0; i < w->nactive; i++)
        if (map[i] >= 0 && w->pfds[map[i]].revents)
            readable[i] = true;
    return incoming;
}

static void pool_accept(struct modem_pool *pool);

static long min_wait(long a, long b)
{
    if (a < 0)
        return b;
    if (b < 0)
        return a;
    return a < b ? a : b;
}

/* Busy workers never time out in ppoll: sweep fd-clocked calls anyway. */
static bool worker_sweep_due(struct worker *w)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (timespec_diff_ns(&now, &w->fd_sweep) < (long)FD_IDLE_WAIT_MS * 1000000L)
        return false;
    w->fd_sweep = now;
    return true;
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct modem_pool *pool = w->pool;
    pthread_setname_np(pthread_self(), "faxfs-dsp");
    bool *readable = calloc((size_t)w->nchannels + 1, sizeof *readable);
    clock_gettime(CLOCK_MONOTONIC, &w->next_tick);
    w->next_rt = w->next_tick;
    w->fd_sweep = w->next_tick;
    for (;;) {
        worker_take_pending(w);
        if (atomic_load(&pool->stopping)) {
            for (int i = 0; i < w->nactive; i++)
                session_request_abort(w->active[i]->session);
            if (w->nactive == 0 && !atomic_load(&w->has_pending))
                break;
        }
        bool want_again = false;
        for (int l = 0; l < pool->nlines; l++) {
            const struct pool_line *pl = &pool->lines[l];
            if (pl->line && pl->driver->maintain && pl->driver->maintain(pl->line, false))
                want_again = true;
        }
        struct worker_mix mix = worker_mix(w);
        bool tick = false, rt_tick = false;
        long wait_ns = -1, ns;
        if (mix.pool && pool->pace == MODEM_PACE_FAST) {
            tick = true;
            wait_ns = 0;
        } else if (mix.pool) {
            tick = worker_tick_due(w, &w->next_tick, &ns);
            wait_ns = min_wait(wait_ns, ns);
        }
        if (mix.realtime) {
            rt_tick = worker_tick_due(w, &w->next_rt, &ns);
            wait_ns = min_wait(wait_ns, ns);
        }
        if (mix.fd || want_again)
            wait_ns = min_wait(wait_ns, (long)FD_IDLE_WAIT_MS * 1000000L);
        /* At fast pace with nothing else to wait for, only look at the
         * fds now and then: the DSP is the work. */
        bool look = wait_ns != 0 || mix.fd || (w->listen_fd >= 0 && ++w->loops % ACCEPT_EVERY_LOOPS == 0);
        for (int i = 0; i < w->nactive; i++)
            readable[i] = false;
        if (look && worker_wait(w, wait_ns, readable))
            pool_accept(pool);
        if (mix.fd && worker_sweep_due(w))
            for (int i = 0; i < w->nactive; i++)
                readable[i] = true; /* let fd-clocked calls check their timers */
        if (!mix.pool)
            clock_gettime(CLOCK_MONOTONIC, &w->next_tick);
        if (!mix.realtime)
            clock_gettime(CLOCK_MONOTONIC, &w->next_rt);
        if (!tick && mix.pool && pool->pace == MODEM_PACE_REALTIME)
            tick = worker_tick_due(w, &w->next_tick, &ns);
        if (!rt_tick && mix.realtime)
            rt_tick = worker_tick_due(w, &w->next_rt, &ns);
        worker_service(w, tick, rt_tick, readable);
    }
    free(readable);
    return NULL;
}

static int pool_fail(char *err, size_t errlen, int rc, const char *fmt, const char *what)
{
    snprintf(err, errlen, fmt, what);
    return rc;
}

/* Page headers need a time zone that spandsp can use without localtime():
 * the daemon's own TZ if it is a POSIX rule, else today's fixed offset. */
static void pool_header_tz(char *out, size_t len)
{
    const char *tz = getenv("TZ");
    if (tz && *tz && *tz != ':' && !strchr(tz, '/')) {
        snprintf(out, len, "%s", tz);
        return;
    }
    time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    long west = -tm.tm_gmtoff; /* POSIX offsets count hours west of UTC */
    char sign = west < 0 ? '-' : '+';
    long a = west < 0 ? -west : west;
    snprintf(out, len, "LOC%c%ld:%02ld", sign, a / 3600, (a / 60) % 60);
}

/* Picks the driver for a --line spec and returns its argument in *arg. */
static const struct line_driver *line_driver_for_spec(const char *spec, const char **arg)
{
    *arg = NULL;
    if (!spec || !*spec || strcmp(spec, "sim") == 0)
        return &line_sim_driver;
    if (strncmp(spec, "exec:", 5) == 0 && spec[5]) {
        *arg = spec + 5;
        return &line_exec_driver;
    }
    if (strncmp(spec, "sip:", 4) == 0 && spec[4]) {
        *arg = spec + 4;
        return &line_sip_driver;
    }
    return NULL;
}

/* Real-time scheduling for the DSP workers (never for the lane). A fast
 * simulated line keeps its worker busy without pause: at a real-time
 * priority it would starve the rest of the system, so not there. */
static void pool_set_priority(struct modem_pool *pool, int prio)
{
    if (prio <= 0)
        return;
    for (int l = 0; l < pool->nlines; l++)
        if (pool->lines[l].driver->clock == LINE_CLOCK_POOL && pool->pace == MODEM_PACE_FAST) {
            snprintf(pool->priority_note, sizeof pool->priority_note,
                     "not with simulated lines at fast pace (the workers never sleep there)");
            return;
        }
    struct sched_param sp = { .sched_priority = prio };
    for (int i = 0; i < pool->nworkers; i++) {
        int rc = pthread_setschedparam(pool->workers[i].thread, SCHED_RR, &sp);
        if (rc != 0) {
            snprintf(pool->priority_note, sizeof pool->priority_note,
                     "%s (the daemon needs CAP_SYS_NICE, or an RLIMIT_RTPRIO of at least %d)", strerror(rc), prio);
            struct sched_param normal = { .sched_priority = 0 };
            for (int j = 0; j < i; j++)
                pthread_setschedparam(pool->workers[j].thread, SCHED_OTHER, &normal);
            return;
        }
    }
    /* The workers preempt the lane now: it need not yield to them, only
     * share with the rest of the machine. */
    atomic_store(&pool->lane.nice, LANE_NICE_RT);
}

static int pool_start_workers(struct modem_pool *pool, int prio, char *err, size_t errlen)
{
    for (int i = 0; i < pool->nworkers; i++) {
        struct worker *w = &pool->workers[i];
        w->pool = pool;
        w->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        pthread_mutex_init(&w->lock, NULL);
        atomic_init(&w->has_pending, false);
        w->listen_fd = i == 0 ? pool->listen_fd : -1;
        int total = pool->nchannels + pool->ninbound;
        int per = (total + pool->nworkers - 1) / pool->nworkers;
        w->channels = calloc((size_t)per + 1, sizeof *w->channels);
        w->active = calloc((size_t)per + 1, sizeof *w->active);
        w->pfds = calloc((size_t)per + 3, sizeof *w->pfds);
        if (w->wake_fd < 0 || !w->channels || !w->active || !w->pfds)
            return pool_fail(err, errlen, -ENOMEM, "cannot start modem worker %s", "(out of memory or fds)");
    }
    for (int i = 0; i < pool->nchannels + pool->ninbound; i++) {
        struct channel *ch = &pool->channels[i];
        struct worker *w = &pool->workers[i % pool->nworkers];
        ch->index = i;
        ch->line = -1;
        for (int l = 0; i < pool->nchannels && l < pool->nlines; l++)
            if (i >= pool->lines[l].first && i < pool->lines[l].first + pool->lines[l].count)
                ch->line = l;
        if (i < pool->nchannels)
            snprintf(ch->name, sizeof ch->name, "modem%d", i);
        else
            snprintf(ch->name, sizeof ch->name, "in%d", i - pool->nchannels);
        ch->worker = w;
        atomic_init(&ch->busy, false);
        atomic_init(&ch->abort_requested, false);
        atomic_init(&ch->lane, LANE_NONE);
        w->channels[w->nchannels++] = ch;
    }
    /* Workers never take signals meant for the daemon. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    /* The lane starts first: a worker may hand it a call at once. */
    int total = pool->nchannels + pool->ninbound;
    int rc = lane_start(pool, pool->nworkers, total);
    for (int i = 0; i < pool->nworkers && rc == 0; i++) {
        rc = -pthread_create(&pool->workers[i].thread, NULL, worker_main, &pool->workers[i]);
        if (rc != 0)
            pool->nworkers = i; /* only join what started */
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0)
        return pool_fail(err, errlen, rc, "cannot start modem worker threads%s", "");
    pool_set_priority(pool, prio);
    return 0;
}

static void pool_free(struct modem_pool *pool)
{
    /* Normally stopped by modem_pool_destroy once the workers are gone;
     * here on error paths, before any call was offered. */
    sip_line_listener_free(pool->sip_listener);
    pool->sip_listener = NULL;
    lane_stop(pool); /* the workers were joined */
    pthread_mutex_destroy(&pool->lane.lock);
    pthread_cond_destroy(&pool->lane.cond);
    free(pool->lane.q);
    free(pool->lane.threads);
    pthread_mutex_destroy(&pool->offer_lock);
    for (int i = 0; pool->workers && i < pool->nworkers; i++) {
        struct worker *w = &pool->workers[i];
        if (w->wake_fd >= 0)
            close(w->wake_fd);
        pthread_mutex_destroy(&w->lock);
        free(w->channels);
        free(w->active);
        free(w->pfds);
    }
    /* destroy() lets hung-up commands finish their own way first (an
     * exec bridge may still be writing what it received). */
    for (int l = 0; pool->lines && l < pool->nlines; l++) {
        struct pool_line *pl = &pool->lines[l];
        if (pl->line)
            pl->driver->destroy(pl->line);
        free(pl->tsid);
        free(pl->header);
    }
    free(pool->lines);
    if (pool->listen_fd >= 0)
        close(pool->listen_fd);
    inbound_hub_free(pool->hub);
    free(pool->workers);
    free(pool->channels);
    free(pool->scratch_dir);
    free(pool);
}

/* One listener: AudioSocket (accepted by worker 0) or SIP (offered by
 * its signalling thread). */
static int pool_open_listener(struct modem_pool *pool, const struct modem_pool_config *cfg, const char *spec,
                              char *err, size_t errlen)
{
    if (!pool->hub)
        return pool_fail(err, errlen, -EINVAL, "listening on %s needs inbound callbacks", spec);
    if (strncmp(spec, "sip:", 4) == 0) {
        if (pool->sip_listen_spec)
            return pool_fail(err, errlen, -EINVAL, "%s: only one SIP listener at a time", spec);
        pool->sip_listen_spec = spec + 4;
        return 0;
    }
    if (strncmp(spec, "audiosocket:", 12) != 0)
        return pool_fail(err, errlen, -EINVAL, "unknown listener \"%s\"; use audiosocket:HOST:PORT or sip:ADDR:PORT",
                         spec);
    if (pool->listen_fd >= 0)
        return pool_fail(err, errlen, -EINVAL, "%s: only one AudioSocket listener at a time", spec);
    char aerr[128];
    const char *allow = cfg->audiosocket_allow && *cfg->audiosocket_allow ? cfg->audiosocket_allow
                                                                          : "127.0.0.0/8,::1";
    if (peer_acl_parse(&pool->audiosocket_allow, allow, aerr, sizeof aerr) != 0)
        return pool_fail(err, errlen, -EINVAL, "AudioSocket allowed peers (--audiosocket-allow): %s", aerr);
    refusal_log_init(&pool->as_refusals, 60, 10);
    int fd = audiosocket_listen(spec + 12, &pool->listen_port, err, errlen);
    if (fd < 0)
        return fd;
    pool->listen_fd = fd;
    pool->listen_driver = cfg->listen_unpaced ? &line_audiosocket_unpaced_driver : &line_audiosocket_driver;
    return 0;
}

/* The inbound side: slots, and the listeners asked for. Listening
 * without inbound callbacks would answer calls into nowhere. */
static int pool_open_inbound(struct modem_pool *pool, const struct modem_pool_config *cfg, char *err, size_t errlen)
{
    int rc = inbound_hub_create(&pool->hub, cfg, pool->header_tz, err, errlen);
    if (rc != 0)
        return rc;
    pool->ninbound = inbound_hub_slots(pool->hub);
    if (cfg->listen_spec && *cfg->listen_spec && (rc = pool_open_listener(pool, cfg, cfg->listen_spec, err, errlen)) != 0)
        return rc;
    for (int i = 0; cfg->listen_more && cfg->listen_more[i]; i++)
        if ((rc = pool_open_listener(pool, cfg, cfg->listen_more[i], err, errlen)) != 0)
            return rc;
    return 0;
}

/* Hands a session to its channel's worker (an outgoing call, or an
 * inbound call on its slot). */
static void pool_hand_over(struct modem_pool *pool, struct channel *ch, struct session *s)
{
    (void)pool;
    struct worker *w = ch->worker;
    pthread_mutex_lock(&w->lock);
    ch->pending = s;
    pthread_mutex_unlock(&w->lock);
    atomic_store(&w->has_pending, true);
    worker_wake(w);
}

static void pool_peer_name(const struct sockaddr_storage *sa, char *out, size_t len)
{
    char host[INET6_ADDRSTRLEN] = "?";
    int port = 0;
    if (sa->ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
        port = ntohs(in->sin_port);
    } else if (sa->ss_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
        port = ntohs(in6->sin6_port);
    }
    snprintf(out, len, "%s:%d", host, port);
}

static int64_t pool_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec + 1;
}

/* Runs on the SIP listener's thread: a refused caller, for the log. */
static void pool_sip_notice(void *user, const char *line)
{
    struct modem_pool *pool = user;
    inbound_notice(pool->hub, "%s", line);
}

/* Runs on the SIP listener's thread for each call it answers: a free
 * inbound slot takes it, or the caller hears busy. */
static int pool_sip_incoming(void *user, struct sip_call *sc, const char *caller_id)
{
    struct modem_pool *pool = user;
    const char *who = caller_id && *caller_id ? caller_id : "an unknown caller";
    pthread_mutex_lock(&pool->offer_lock);
    int slot = atomic_load(&pool->stopping) || !atomic_load(&pool->workers_run) ? -2 : inbound_slot_take(pool->hub);
    struct line_call *call = slot >= 0 ? sip_line_call_new(sc) : NULL;
    struct session *s = call ? session_create_inbound(&line_sip_driver, call, pool->hub, slot) : NULL;
    if (s)
        pool_hand_over(pool, &pool->channels[pool->nchannels + slot], s);
    pthread_mutex_unlock(&pool->offer_lock);
    if (s)
        return 0;
    /* Refused: the agent keeps the call's reference and answers 486. */
    sip_line_call_discard(call);
    if (slot >= 0)
        inbound_slot_release(pool->hub, slot);
    /* A flood must not fill the log: one line per source a minute. */
    struct peer_addr src;
    long held = 0;
    bool say = slot != -2 && sip_call_peer(sc, &src);
    if (say) {
        pthread_mutex_lock(&pool->offer_lock);
        say = refusal_log_should(&pool->sip_refusals, &src, pool_now_s(), &held);
        pthread_mutex_unlock(&pool->offer_lock);
    }
    if (say) {
        char ip[64];
        peer_addr_text(&src, ip, sizeof ip);
        inbound_notice(pool->hub, "SIP call from %s (%s) turned away: %s%s", who, ip,
                       slot < 0 ? "every inbound line is busy" : "out of memory",
                       held > 0 ? "; more refusals were not logged" : "");
    }
    return -EBUSY;
}

/* Runs on worker 0: takes new AudioSocket connections onto free inbound
 * channels, or turns them away when every slot is busy. */
static void pool_accept(struct modem_pool *pool)
{
    for (int i = 0; i < ACCEPT_PER_PASS && !atomic_load(&pool->stopping); i++) {
        struct sockaddr_storage sa;
        socklen_t salen = sizeof sa;
        int fd = accept4(pool->listen_fd, (struct sockaddr *)&sa, &salen, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return; /* EAGAIN, or an error the next look retries */
        char peer[64];
        pool_peer_name(&sa, peer, sizeof peer);
        struct peer_addr src;
        if (peer_addr_from_sockaddr(&src, (struct sockaddr *)&sa) != 0
            || !peer_acl_allows(&pool->audiosocket_allow, &src)) {
            long held = 0;
            close(fd); /* before anything is read from it */
            if (refusal_log_should(&pool->as_refusals, &src, pool_now_s(), &held))
                inbound_notice(pool->hub, "AudioSocket connection from %s refused: not in --audiosocket-allow%s", peer,
                               held > 0 ? "; more refusals were not logged" : "");
            continue;
        }
        int one = 1; /* our 20 ms frames must leave at once, not wait for Nagle */
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        int slot = inbound_slot_take(pool->hub);
        struct line_call *call = slot >= 0 ? audiosocket_call_new(fd, peer) : NULL;
        struct session *s = call ? session_create_inbound(pool->listen_driver, call, pool->hub, slot) : NULL;
        if (!s) {
            inbound_notice(pool->hub, "AudioSocket connection from %s turned away: %s", peer,
                           slot < 0 ? "every inbound line is busy" : "out of memory");
            if (call)
                pool->listen_driver->hangup(call); /* closes fd */
            else
                close(fd);
            if (slot >= 0)
                inbound_slot_release(pool->hub, slot);
            continue;
        }
        pool_hand_over(pool, &pool->channels[pool->nchannels + slot], s);
    }
}

/* The lines asked for: cfg->lines, or the one line "default" of the
 * older single-line settings. */
static int pool_lines_of(const struct modem_pool_config *cfg, struct modem_line_config *one,
                         const struct modem_line_config **lines, int *nlines)
{
    if (cfg->nlines > 0 && cfg->lines) {
        *lines = cfg->lines;
        *nlines = cfg->nlines;
        return 0;
    }
    *one = (struct modem_line_config){
        .name = "default", .spec = cfg->line_spec, .channels = cfg->channels, .tsid = NULL, .sip = cfg->sip,
    };
    *lines = one;
    *nlines = 1;
    return 0;
}

/* Checks every line and counts the channels, before anything is built. */
static int pool_check_lines(const struct modem_line_config *lines, int nlines, int *total, char *err, size_t errlen)
{
    *total = 0;
    for (int l = 0; l < nlines; l++) {
        const char *arg;
        const char *name = lines[l].name ? lines[l].name : "default";
        if (!line_driver_for_spec(lines[l].spec, &arg)) {
            snprintf(err, errlen, "line %s: unknown line \"%s\"; use \"sim\", \"exec:COMMAND\" or \"sip:HOST[:PORT]\"",
                     name, lines[l].spec);
            return -EINVAL;
        }
        if (lines[l].channels <= 0 || lines[l].channels > 4096 || *total + lines[l].channels > 4096) {
            snprintf(err, errlen, "line %s: modem count must be between 1 and 4096 (all lines together)", name);
            return -EINVAL;
        }
        *total += lines[l].channels;
    }
    return 0;
}

/* Copies each line's settings and creates its driver instance. */
static int pool_create_lines(struct modem_pool *pool, const struct modem_pool_config *cfg,
                             const struct modem_line_config *lines, char *err, size_t errlen)
{
    int first = 0;
    for (int l = 0; l < pool->nlines; l++) {
        struct pool_line *pl = &pool->lines[l];
        const struct modem_line_config *lc = &lines[l];
        const char *arg;
        pl->driver = line_driver_for_spec(lc->spec, &arg);
        pl->first = first;
        pl->count = lc->channels;
        first += lc->channels;
        const char *tsid = lc->tsid ? lc->tsid : cfg->tsid;
        pl->tsid = tsid ? strdup(tsid) : NULL;
        pl->header = lc->header ? strdup(lc->header) : NULL;
        if ((tsid && !pl->tsid) || (lc->header && !pl->header))
            return pool_fail(err, errlen, -ENOMEM, "out of memory%s", "");
        pl->sip = lc->sip;
        if (!pl->sip.user && lc->caller_id && *lc->caller_id)
            pl->sip.user = lc->caller_id;
        /* A SIP line that registers takes calls at its contact: they go
         * to the inbound slots like the listener's. */
        struct line_config c = { .arg = arg, .pace = cfg->pace, .sim_dir = cfg->sim_dir,
                                    .sim_setup_seconds = cfg->sim_setup_seconds, .hub = pool->hub,
                                 .sip = &pl->sip, .name = lc->name ? lc->name : "default",
                                 .sip_incoming = pool->hub ? pool_sip_incoming : NULL,
                                 .sip_notice = pool_sip_notice, .sip_user = pool };
        char lerr[400] = "";
        int rc = pl->driver->create(&pl->line, &c, lerr, sizeof lerr);
        if (rc != 0) {
            pl->line = NULL;
            snprintf(err, errlen, "line %s: %s", lc->name ? lc->name : "default", lerr[0] ? lerr : strerror(-rc));
            return rc;
        }
    }
    return 0;
}

int modem_pool_create(struct modem_pool **out, const struct modem_pool_config *cfg, char *err, size_t errlen)
{
    *out = NULL;
    struct modem_line_config one;
    const struct modem_line_config *lines;
    int nlines, total;
    pool_lines_of(cfg, &one, &lines, &nlines);
    int rc = pool_check_lines(lines, nlines, &total, err, errlen);
    if (rc != 0)
        return rc;
    if (!cfg->scratch_dir || !*cfg->scratch_dir)
        return pool_fail(err, errlen, -EINVAL, "the modems need a scratch directory%s", "");
    struct modem_pool *pool = calloc(1, sizeof *pool);
    if (!pool)
        return pool_fail(err, errlen, -ENOMEM, "out of memory%s", "");
    pool->pace = cfg->pace;
    pool->nchannels = total;
    pool->listen_fd = -1;
    pool->listen_port = -1;
    pthread_mutex_init(&pool->offer_lock, NULL);
    pthread_mutex_init(&pool->lane.lock, NULL);
    pthread_cond_init(&pool->lane.cond, NULL);
    refusal_log_init(&pool->sip_refusals, 60, 10);
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    pool->nworkers = cfg->workers > 0 ? cfg->workers : cpus > 0 ? (int)cpus : 1;
    if (pool->nworkers > pool->nchannels)
        pool->nworkers = pool->nchannels;
    pool_header_tz(pool->header_tz, sizeof pool->header_tz);
    rc = pool_open_inbound(pool, cfg, err, errlen);
    if (rc != 0) {
        pool_free(pool);
        return rc;
    }
    pool->scratch_dir = strdup(cfg->scratch_dir);
    pool->lines = calloc((size_t)nlines, sizeof *pool->lines);
    pool->nlines = pool->lines ? nlines : 0;
    pool->channels = calloc((size_t)(pool->nchannels + pool->ninbound), sizeof *pool->channels);
    pool->workers = calloc((size_t)pool->nworkers, sizeof *pool->workers);
    for (int i = 0; pool->workers && i < pool->nworkers; i++)
        pool->workers[i].wake_fd = -1;
    if (!pool->scratch_dir || !pool->lines || !pool->channels || !pool->workers) {
        pool_free(pool);
        return pool_fail(err, errlen, -ENOMEM, "out of memory%s", "");
    }
    rc = pool_create_lines(pool, cfg, lines, err, errlen);
    if (rc != 0) {
        pool_free(pool);
        return rc;
    }
    int started = pool->nworkers;
    rc = pool_start_workers(pool, cfg->dsp_priority, err, errlen);
    atomic_store(&pool->workers_run, rc == 0);
    /* Calls may be offered the moment the SIP listener runs: workers first. */
    if (rc == 0 && pool->sip_listen_spec)
        rc = sip_line_listen(&pool->sip_listener, pool->sip_listen_spec, &cfg->sip, pool_sip_incoming,
                             pool_sip_notice, pool, err, errlen);
    pool->sip_listen_spec = NULL;
    if (rc != 0) {
        atomic_store(&pool->stopping, true);
        for (int i = 0; i < pool->nworkers; i++) {
            worker_wake(&pool->workers[i]);
            pthread_join(pool->workers[i].thread, NULL);
        }
        pool->nworkers = started;
        pool_free(pool);
        return rc;
    }
    *out = pool;
    return 0;
}

void modem_pool_destroy(struct modem_pool *pool)
{
    if (!pool)
        return;
    /* SIP calls offered from now on hear busy; those handed over
     * already are pending on a worker, which ends them before it exits.
     * The listener goes last: the workers' hang-ups still need it. */
    pthread_mutex_lock(&pool->offer_lock);
    atomic_store(&pool->stopping, true);
    pthread_mutex_unlock(&pool->offer_lock);
    for (int i = 0; i < pool->nworkers; i++)
        worker_wake(&pool->workers[i]);
    for (int i = 0; i < pool->nworkers; i++)
        pthread_join(pool->workers[i].thread, NULL);
    sip_line_listener_free(pool->sip_listener);
    pool->sip_listener = NULL;
    pool_free(pool);
}

int modem_pool_channels(const struct modem_pool *pool)
{
    return pool->nchannels;
}

const char *modem_channel_name(const struct modem_pool *pool, int channel)
{
    if (channel < 0 || channel >= pool->nchannels)
        return NULL;
    return pool->channels[channel].name;
}

static bool pages_are_valid(const char *const *paths, int count)
{
    if (!paths || count <= 0)
        return false;
    for (int i = 0; i < count; i++)
        if (!paths[i])
            return false;
    return true;
}

static bool request_is_valid(const struct modem_send_request *req)
{
    if (!req || !req->number || !*req->number || !pages_are_valid(req->page_paths, req->page_count))
        return false;
    if (req->nmore < 0 || req->nmore >= MODEM_MAX_DOCUMENTS || (req->nmore > 0 && !req->more))
        return false;
    for (int d = 0; d < req->nmore; d++)
        if (!pages_are_valid(req->more[d].page_paths, req->more[d].page_count))
            return false;
    return true;
}

/* A batched call's pages, every document's after the first's, in one
 * file: spandsp then sends MPS between pages of the same format and an
 * EOM only where the format changes, so a further document costs no new
 * phase B (an EOM after every document makes the receiver wait its T2
 * timer and renegotiate: about as long as a new call). Returns 0 when
 * every page joined; otherwise the caller sends the first document alone
 * (the others learn why when they are sent on their own). */
static int pool_join_batch(const char *path, const struct modem_send_request *req)
{
    int total = req->page_count;
    for (int d = 0; d < req->nmore; d++)
        total += req->more[d].page_count;
    const char **all = calloc((size_t)total, sizeof *all);
    if (!all)
        return -ENOMEM;
    int n = 0;
    for (int i = 0; i < req->page_count; i++)
        all[n++] = req->page_paths[i];
    for (int d = 0; d < req->nmore; d++)
        for (int i = 0; i < req->more[d].page_count; i++)
            all[n++] = req->more[d].page_paths[i];
    char err[192];
    int rc = tiff_join_pages(path, all, n, 1, err, sizeof err);
    free(all);
    return rc;
}

int modem_send(struct modem_pool *pool, int channel, const struct modem_send_request *req,
               const struct modem_events *ev, void *user)
{
    if (channel < 0 || channel >= pool->nchannels || !ev || !request_is_valid(req))
        return -EINVAL;
    if (atomic_load(&pool->stopping))
        return -ESHUTDOWN;
    struct channel *ch = &pool->channels[channel];
    if (atomic_exchange(&ch->busy, true))
        return -EBUSY;
    atomic_store(&ch->abort_requested, false); /* an abort of the previous call */

    /* The pages are joined here, on the caller's thread, so the DSP
     * workers never wait on the disk. */
    char path[PATH_MAX], join_err[192] = "";
    unsigned seq = atomic_fetch_add(&pool->call_seq, 1);
    snprintf(path, sizeof path, "%s/call-%ld-%s-%u.tif", pool->scratch_dir, (long)getpid(), ch->name, seq);
    int nmore = req->nmore > 0 && pool_join_batch(path, req) == 0 ? req->nmore : 0;
    int rc = nmore > 0 ? 0
             : tiff_join_pages(path, req->page_paths, req->page_count,
                               req->first_page_number > 0 ? req->first_page_number : 1, join_err, sizeof join_err);
    const struct pool_line *pl = &pool->lines[ch->line];
    struct modem_send_request lreq = *req;
    lreq.nmore = nmore;
    if ((!lreq.header || !lreq.header[0]) && pl->header)
        lreq.header = pl->header; /* the line's header text when the job has no sender name */
    struct session_params p = {
        .driver = pl->driver, .line = pl->line, .req = &lreq,
        .tx_file = rc == 0 ? path : NULL, .join_error = rc == 0 ? NULL : join_err,
        .default_tsid = pl->tsid, .header_tz = pool->header_tz, .ev = ev, .user = user,
    };
    struct session *s = session_create(&p);
    if (!s) {
        if (rc == 0)
            unlink(path);
        atomic_store(&ch->busy, false);
        return -ENOMEM;
    }
    pool_hand_over(pool, ch, s);
    return 0;
}

void modem_abort(struct modem_pool *pool, int channel)
{
    if (channel < 0 || channel >= pool->nchannels)
        return;
    struct channel *ch = &pool->channels[channel];
    struct worker *w = ch->worker;
    /* The session cannot be freed under us: only this worker frees it,
     * and it takes the same lock to adopt a pending call. */
    pthread_mutex_lock(&w->lock);
    struct session *s = ch->pending ? ch->pending : NULL;
    if (s)
        session_request_abort(s);
    pthread_mutex_unlock(&w->lock);
    if (!s && atomic_load(&ch->busy))
        atomic_store(&ch->abort_requested, true);
    worker_wake(w);
}

int modem_pool_line_count(const struct modem_pool *pool)
{
    return pool->nlines;
}

int modem_channel_line(const struct modem_pool *pool, int channel)
{
    if (channel < 0 || channel >= pool->nchannels)
        return -1;
    return pool->channels[channel].line;
}

int modem_pool_line_status(const struct modem_pool *pool, int line, struct modem_line_status *out)
{
    if (!pool || line < 0 || line >= pool->nlines)
        return -EINVAL;
    const struct pool_line *pl = &pool->lines[line];
    *out = (struct modem_line_status){ .reg = MODEM_LINE_REG_NONE, .usable = true };
    if (pl->driver->status && pl->line)
        pl->driver->status(pl->line, out);
    else
        snprintf(out->text, sizeof out->text, "none");
    return 0;
}

int modem_pool_listen_port(const struct modem_pool *pool)
{
    return pool->listen_fd >= 0 ? pool->listen_port : -1;
}

int modem_pool_sip_port(const struct modem_pool *pool)
{
    return pool->sip_listener ? sip_line_listener_port(pool->sip_listener) : -1;
}

int modem_pool_inbound_active(const struct modem_pool *pool)
{
    return inbound_active(pool->hub);
}

long modem_pool_overruns(const struct modem_pool *pool)
{
    return atomic_load(&((struct modem_pool *)pool)->overruns);
}

const char *modem_pool_priority_note(const struct modem_pool *pool)
{
    return pool->priority_note[0] ? pool->priority_note : NULL;
}

long modem_pool_lane_runs(const struct modem_pool *pool)
{
    return atomic_load(&((struct modem_pool *)pool)->lane_runs);
}

long modem_pool_lane_waits(const struct modem_pool *pool)
{
    return atomic_load(&((struct modem_pool *)pool)->lane_waits);
}

double modem_pool_line_seconds(const struct modem_pool *pool)
{
    return (double)atomic_load(&((struct modem_pool *)pool)->samples_done) / 8000.0;
}
