/*
 * bench_modem.c - what a simulated channel costs. For K simultaneous
 * sim calls at fast pace it prints line-seconds simulated per CPU-second
 * for the faxfs modem pool and, in the same run, for a bare two-ended
 * spandsp loop (the library's own limit), and their ratio. With
 * --realtime it finds how many real-time channels keep up (no overruns);
 * --realtime --at-once starts every call in the same tick (a burst) and
 * counts overruns from the first start. --bare N runs only the bare loop
 * for N one-page calls and prints its CPU seconds (scripts/bench/call_cpu.sh
 * compares the whole daemon against it).
 * DSP_PRIORITY=N in the environment runs the DSP threads at real-time
 * priority N (as the daemon's --dsp-priority).
 * Usage: bench_modem [--realtime [--at-once]] [K...]
 *        bench_modem --bare N [PAGE.tif]
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <tiffio.h>
#include <spandsp.h>

#include "modem/modem.h"
#include "modem/tiff_join.h"

#define ROWS 1100

static double cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

static void write_page(const char *path)
{
    TIFF *t = TIFFOpen(path, "w");
    TIFFSetField(t, TIFFTAG_IMAGEWIDTH, 1728u);
    TIFFSetField(t, TIFFTAG_IMAGELENGTH, (uint32_t)ROWS);
    TIFFSetField(t, TIFFTAG_BITSPERSAMPLE, 1);
    TIFFSetField(t, TIFFTAG_SAMPLESPERPIXEL, 1);
    TIFFSetField(t, TIFFTAG_COMPRESSION, COMPRESSION_CCITTFAX4);
    TIFFSetField(t, TIFFTAG_PHOTOMETRIC, PHOTOMETRIC_MINISWHITE);
    TIFFSetField(t, TIFFTAG_XRESOLUTION, 204.0f);
    TIFFSetField(t, TIFFTAG_YRESOLUTION, 196.0f);
    TIFFSetField(t, TIFFTAG_RESOLUTIONUNIT, RESUNIT_INCH);
    TIFFSetField(t, TIFFTAG_ROWSPERSTRIP, (uint32_t)ROWS);
    uint8_t row[216];
    unsigned s = 1;
    for (int y = 0; y < ROWS; y++) {
        memset(row, 0, sizeof row);
        if (y % 24 < 16)
            for (int x = 10; x < 206; x++) {
                s = s * 1103515245u + 12345u;
                if (((s >> 16) & 7) < 3)
                    row[x] = (uint8_t)(s >> 8);
            }
        TIFFWriteScanline(t, row, (uint32_t)y, 0);
    }
    TIFFClose(t);
}

/* ---- faxfs: K calls through the pool ---- */

struct bench_call {
    pthread_mutex_t *lock;
    pthread_cond_t *cond;
    int *left;
};

static void on_finished(void *user, const struct modem_result *res)
{
    (void)res;
    struct bench_call *c = user;
    pthread_mutex_lock(c->lock);
    (*c->left)--;
    pthread_cond_signal(c->cond);
    pthread_mutex_unlock(c->lock);
}

static const struct modem_events bench_events = { .finished = on_finished };

static double run_faxfs(int k, const char *dir, const char *page, enum modem_pace pace, int seconds,
                        bool at_once, long *overruns, long *waits, double *cpu_out)
{
    char sim[512];
    snprintf(sim, sizeof sim, "%s/sim", dir);
    const char *prio = getenv("DSP_PRIORITY"); /* real-time priority of the DSP threads, as --dsp-priority */
    struct modem_pool_config cfg = { .channels = k, .line_spec = "sim", .pace = pace, .sim_dir = sim,
                                     .scratch_dir = dir, .dsp_priority = prio ? atoi(prio) : 0 };
    struct modem_pool *pool;
    char err[256];
    if (modem_pool_create(&pool, &cfg, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        exit(1);
    }
    if (cfg.dsp_priority > 0)
        printf("    DSP threads at real-time priority %d: %s\n", cfg.dsp_priority,
               modem_pool_priority_note(pool) ? modem_pool_priority_note(pool) : "applied");
    pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
    int left = k;
    struct bench_call call = { &lock, &cond, &left };
    const char *pages[] = { page };
    double cpu0 = cpu_seconds();
    for (int i = 0; i < k; i++) {
        char number[16];
        snprintf(number, sizeof number, "555%04d", 2000 + i);
        struct modem_send_request req = { .number = number, .page_paths = pages, .page_count = 1,
                                          .first_page_number = 1, .total_pages = 1 };
        modem_send(pool, i, &req, &bench_events, &call);
        if (seconds > 0 && !at_once) {
            /* Real calls do not start in lock-step: spread them over 4 s so
             * their page encodes do not all land in the same tick. */
            long ns = 4000000000L / k;
            struct timespec gap = { ns / 1000000000L, ns % 1000000000L };
            nanosleep(&gap, NULL);
        }
    }
    if (seconds > 0) {
        /* Call set-up (file joins, receivers opening files) is bursty:
         * with spread starts count overruns only once every call is
         * running; a burst (at_once) is what is measured, so from the
         * first start. */
        long warm = 0;
        if (!at_once) {
            sleep(1);
            warm = modem_pool_overruns(pool);
        }
        if (at_once) {
            /* Overruns second by second: bursts at the start only, or
             * again whenever the calls (in lock-step) change phase. */
            long last = 0, last_w = 0;
            long per_w[64];
            printf("    overruns per second:");
            for (int i = 0; i < seconds && i < 64; i++) {
                sleep(1);
                long now = modem_pool_overruns(pool), now_w = modem_pool_lane_waits(pool);
                printf(" %ld", now - last);
                per_w[i] = now_w - last_w;
                last = now;
                last_w = now_w;
            }
            printf("\n    call ticks waited per second:");
            for (int i = 0; i < seconds && i < 64; i++)
                printf(" %ld", per_w[i]);
            printf("\n");
        } else {
            sleep((unsigned)seconds);
        }
        *overruns = modem_pool_overruns(pool) - warm;
        *waits = modem_pool_lane_waits(pool);
        modem_pool_destroy(pool);
        *cpu_out = cpu_seconds() - cpu0;
        return 0;
    }
    pthread_mutex_lock(&lock);
    while (left > 0)
        pthread_cond_wait(&cond, &lock);
    pthread_mutex_unlock(&lock);
    double cpu = cpu_seconds() - cpu0;
    double line = modem_pool_line_seconds(pool);
    modem_pool_destroy(pool);
    *cpu_out = cpu;
    return line;
}

/* ---- bare spandsp: two fax_states back to back, no pool, no line ---- */

struct bare_job {
    const char *file;
    const char *dir;
    int first, count;
    atomic_long *samples;
};

static void bare_done(t30_state_t *s, void *user, int code)
{
    (void)s; (void)code;
    *(int *)user = 1;
}

static void *bare_thread(void *arg)
{
    struct bare_job *j = arg;
    for (int i = j->first; i < j->first + j->count; i++) {
        char rx[600];
        snprintf(rx, sizeof rx, "%s/bare-%d.tif", j->dir, i);
        fax_state_t *a = fax_init(NULL, 1), *b = fax_init(NULL, 0);
        int done_a = 0, done_b = 0;
        t30_set_tx_file(fax_get_t30_state(a), j->file, -1, -1);
        t30_set_rx_file(fax_get_t30_state(b), rx, -1);
        for (fax_state_t *f = a; f; f = f == a ? b : NULL) {
            t30_state_t *t = fax_get_t30_state(f);
            t30_set_ecm_capability(t, 1);
            t30_set_supported_compressions(t, T30_SUPPORT_T4_1D_COMPRESSION | T30_SUPPORT_T4_2D_COMPRESSION
                                                  | T30_SUPPORT_T6_COMPRESSION);
        }
        /* The same T.30 exchange as a daemon's call to a simulated machine:
         * the sender sends its ident (TSI, "faxfs" by default) as the
         * session does, the receiver its number (CSI) and stores T.6 as
         * line_sim's receiver does. Without them the bare call is 1.4 s
         * shorter on the line than the daemon's. */
        fax_set_transmit_on_idle(a, 1);
        t30_set_tx_ident(fax_get_t30_state(a), "faxfs");
        t30_set_tx_ident(fax_get_t30_state(b), "5550001");
        t30_set_rx_encoding(fax_get_t30_state(b), T4_COMPRESSION_ITU_T6);
        for (fax_state_t *f = a; f; f = f == a ? b : NULL)
            t30_set_supported_modems(fax_get_t30_state(f), T30_SUPPORT_V27TER | T30_SUPPORT_V29 | T30_SUPPORT_V17);
        t30_set_phase_e_handler(fax_get_t30_state(a), bare_done, &done_a);
        t30_set_phase_e_handler(fax_get_t30_state(b), bare_done, &done_b);
        int16_t ab[160], ba[160];
        long samples = 0;
        while (!done_a) {
            int n = fax_tx(a, ab, 160);
            if (n < 160) memset(ab + n, 0, (size_t)(160 - n) * 2);
            n = done_b ? 0 : fax_tx(b, ba, 160);
            if (n < 160) memset(ba + n, 0, (size_t)(160 - n) * 2);
            fax_rx(a, ba, 160);
            if (!done_b) fax_rx(b, ab, 160);
            samples += 160;
        }
        fax_free(a);
        fax_free(b);
        unlink(rx);
        atomic_fetch_add(j->samples, samples);
    }
    return NULL;
}

static double run_bare(int k, const char *dir, const char *file, double *cpu_out)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    int nt = cpus > 0 ? (int)cpus : 1;
    pthread_t th[64];
    struct bare_job jobs[64];
    atomic_long samples = 0;
    double cpu0 = cpu_seconds();
    if (nt > 64)
        nt = 64;
    int per = (k + nt - 1) / nt, first = 0, started = 0;
    for (int i = 0; i < nt && first < k; i++) {
        jobs[i] = (struct bare_job){ file, dir, first, first + per > k ? k - first : per, &samples };
        first += jobs[i].count;
        pthread_create(&th[i], NULL, bare_thread, &jobs[i]);
        started = i + 1;
    }
    for (int i = 0; i < started; i++)
        pthread_join(th[i], NULL);
    *cpu_out = cpu_seconds() - cpu0;
    return (double)atomic_load(&samples) / 8000.0;
}

int main(int argc, char **argv)
{
    char dir[] = "/tmp/faxfs-bench-modem-XXXXXX";
    if (!mkdtemp(dir))
        return 1;
    char page[600], joined[600], err[256];
    snprintf(page, sizeof page, "%s/page.tif", dir);
    snprintf(joined, sizeof joined, "%s/joined.tif", dir);
    write_page(page);
    const char *pages[] = { page };
    tiff_join_pages(joined, pages, 1, 1, err, sizeof err);
    if (argc > 2 && strcmp(argv[1], "--bare") == 0) {
        /* The same page the daemon is given, joined as the daemon joins it. */
        const char *own[] = { argc > 3 ? argv[3] : page };
        if (tiff_join_pages(joined, own, 1, 1, err, sizeof err) != 0) {
            fprintf(stderr, "bench_modem: %s\n", err);
            return 1;
        }
        double cb;
        double lb = run_bare(atoi(argv[2]), dir, joined, &cb);
        printf("bare %d calls: %.3f cpu-s %.1f line-s\n", atoi(argv[2]), cb, lb);
        char cmd[700];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        return system(cmd) == 0 ? 0 : 1;
    }
    bool realtime = argc > 1 && strcmp(argv[1], "--realtime") == 0;
    bool at_once = realtime && argc > 2 && strcmp(argv[2], "--at-once") == 0;
    int first_k = realtime ? (at_once ? 3 : 2) : 1;
    int ks_default[] = { 8, 64, 256 };
    int nk = argc > first_k ? argc - first_k : 3;
    if (realtime) {
        printf(at_once ? "real-time channels (1 call each, all started in one tick; overruns counted over 10 s from the start)\n"
                       : "real-time channels (1 call each; overruns counted over 10 s once all have started)\n");
        for (int i = 0; i < nk; i++) {
            int k = argc > first_k ? atoi(argv[first_k + i]) : ks_default[i] + 0;
            long over = 0, waits = 0;
            double cpu = 0, load[1] = { -1 };
            run_faxfs(k, dir, page, MODEM_PACE_REALTIME, 10, at_once, &over, &waits, &cpu);
            if (getloadavg(load, 1) < 1)
                load[0] = -1;
            /* waits: ticks by which single calls fell behind while their set-up
             * or page work ran off the tick (20 ms each, per call). */
            printf("  %4d channels: %ld overruns, %.1f%% of one CPU, %ld call ticks waited for set-up/page work"
                   " (%.1f per call), load average %.2f\n",
                   k, over, cpu * 100.0 / (at_once ? 10.0 : 15.0), waits, (double)waits / k, load[0]);
            fflush(stdout);
        }
    } else {
        printf("%6s %14s %14s %7s\n", "K", "faxfs ls/cpu-s", "bare ls/cpu-s", "ratio");
        for (int i = 0; i < nk; i++) {
            int k = argc > first_k ? atoi(argv[first_k + i]) : ks_default[i];
            double cf, cb;
            double lf = run_faxfs(k, dir, page, MODEM_PACE_FAST, 0, false, NULL, NULL, &cf);
            double lb = run_bare(k, dir, joined, &cb);
            double rf = lf / cf, rb = lb / cb;
            printf("%6d %14.0f %14.0f %7.3f\n", k, rf, rb, rf / rb);
            fflush(stdout);
        }
    }
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : 1;
}
