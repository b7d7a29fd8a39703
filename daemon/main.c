/*
 * main.c - the faxfs daemon: parses options, detaches (reporting readiness
 * to the parent through a pipe, so `faxfs MOUNTPOINT` fails loudly when the
 * mount fails), then builds one struct daemon (modem pool -> queue engine ->
 * filesystem view -> reloader) and tears it down in the reverse order.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "daemon/config.h"
#include "daemon/deliver.h"
#include "daemon/mail_message.h"
#include "daemon/notify.h"
#include "daemon/options.h"
#include "daemon/readiness.h"
#include "daemon/store.h"
#include "daemon/wiring.h"
#include "fs/fs.h"
#include "modem/modem.h"
#include "queue/queue.h"
#include "queue/sandbox.h"

static bool log_to_stderr = true;

/* The queue's log sink: level is a syslog priority. */
static void daemon_log(int level, const char *msg)
{
    if (!log_to_stderr) {
        syslog(level, "%s", msg);
        return;
    }
    char stamp[32];
    time_t now = time(NULL);
    struct tm tm;
    strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", localtime_r(&now, &tm));
    fprintf(stderr, "%s faxfs: %s\n", stamp, msg);
}

static void logf_(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void logf_(int level, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    daemon_log(level, buf);
}

/* Descriptors are bounded per user (open outbox files) and per call, not
 * by the 1024 a shell hands down: the soft limit is raised to the hard one. */
static void raise_fd_limit(void)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
        return;
    if (rl.rlim_cur < rl.rlim_max) {
        rlim_t was = rl.rlim_cur;
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) < 0) {
            logf_(LOG_WARNING, "open file limit stays %llu: cannot raise it to %llu: %s", (unsigned long long)was,
                  (unsigned long long)rl.rlim_max, strerror(errno));
            return;
        }
    }
    logf_(LOG_INFO, "open file limit: %llu", (unsigned long long)rl.rlim_cur);
}

static int mkdir_p(const char *path, mode_t mode)
{
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s", path) >= (int)sizeof tmp)
        return -ENAMETOOLONG;
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(tmp, mode) < 0 && errno != EEXIST)
            return -errno;
        *p = '/';
    }
    if (mkdir(tmp, mode) < 0 && errno != EEXIST)
        return -errno;
    return 0;
}

/* The modem scratch area holds per-call files only: anything left there is
 * from a previous run. */
static int prepare_scratch_dir(const char *dir)
{
    int rc = mkdir_p(dir, 0700);
    if (rc < 0)
        return rc;
    DIR *d = opendir(dir);
    if (!d)
        return -errno;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] != '.')
            unlinkat(dirfd(d), e->d_name, 0);
    }
    closedir(d);
    return 0;
}

/* Detaches from the terminal. The parent waits on a pipe for one line from
 * the child: "ok" once mounted, else the error, and exits accordingly. */
static int detach(int *ready_fd)
{
    int p[2];
    if (pipe(p) < 0)
        return -errno;
    pid_t pid = fork();
    if (pid < 0)
        return -errno;
    if (pid > 0) {
        close(p[1]);
        char msg[1024];
        ssize_t n = read(p[0], msg, sizeof msg - 1);
        if (n > 2 && strncmp(msg, "ok", 2) == 0)
            _exit(0);
        if (n > 0) {
            msg[n] = '\0';
            fprintf(stderr, "%s", msg);
        } else {
            int st;
            waitpid(pid, &st, 0);
            fprintf(stderr, "faxfs: the daemon exited before it was ready\n");
        }
        _exit(1);
    }
    close(p[0]);
    setsid();
    *ready_fd = p[1];
    return 0;
}

static void report_ready(int *ready_fd, const char *error)
{
    if (*ready_fd < 0)
        return;
    char msg[1100];
    int n = error ? snprintf(msg, sizeof msg, "faxfs: %s\n", error) : snprintf(msg, sizeof msg, "ok\n");
    if (write(*ready_fd, msg, (size_t)n) < 0) {
        /* the parent is gone; nothing more to tell */
    }
    close(*ready_fd);
    *ready_fd = -1;
    if (!error) {
        int null = open("/dev/null", O_RDWR);
        if (null >= 0) {
            dup2(null, 0);
            dup2(null, 1);
            dup2(null, 2);
            if (null > 2)
                close(null);
        }
    }
}

static int admin_gid_of(const char *group, gid_t *out)
{
    *out = (gid_t)-1;
    if (!group)
        return 0;
    struct group *g = getgrnam(group);
    if (!g)
        return -ENOENT;
    *out = g->gr_gid;
    return 0;
}

/* The user documents are converted as: --convert-user must name an
 * existing user other than root; without it faxfs-convert, else nobody
 * (with a warning, since other services may run as nobody too). */
static int convert_user_of(const char *name, uid_t *uid, gid_t *gid, char *warning, size_t wlen)
{
    struct passwd *pw = getpwnam(name ? name : SANDBOX_DEFAULT_USER);

    warning[0] = '\0';
    if (pw == NULL && name == NULL) {
        snprintf(warning, wlen, "the user %s does not exist: documents are converted as nobody; create it "
                 "(useradd --system --no-create-home --shell /usr/sbin/nologin %s) or give --convert-user",
                 SANDBOX_DEFAULT_USER, SANDBOX_DEFAULT_USER);
        pw = getpwnam("nobody");
    }
    if (pw == NULL)
        return -ENOENT;
    if (pw->pw_uid == 0 || pw->pw_gid == 0)
        return -EPERM;
    *uid = pw->pw_uid;
    *gid = pw->pw_gid;
    return 0;
}

/* Documents are refused while the sandbox cannot run; say so at start. */
static void check_sandbox(const char *converter, uid_t convert_uid, gid_t convert_gid)
{
    struct sandbox_options sb = {converter, SANDBOX_DEFAULT_BWRAP, convert_uid, convert_gid};
    char why[512];

    if (sandbox_probe(&sb, why, sizeof why) != 0)
        logf_(LOG_ERR, "documents will be refused until this is fixed: %s", why);
}

/* The converter program lives next to the daemon's binary. */
static int converter_path(char *out, size_t len)
{
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);

    if (n <= 0)
        return -errno;
    self[n] = '\0';
    char *slash = strrchr(self, '/');
    if (slash == NULL)
        return -ENOENT;
    *slash = '\0';
    return snprintf(out, len, "%s/faxfs-convert", self) < (int)len ? 0 : -ENAMETOOLONG;
}

/* USER[:GROUP] (names or numbers) -> ids; GROUP defaults to USER's group. */
static int owner_of(const char *spec, uid_t *uid, gid_t *gid)
{
    *uid = 0;
    *gid = 0;
    if (!spec)
        return 0;
    char user[256];
    snprintf(user, sizeof user, "%s", spec);
    char *group = strchr(user, ':');
    if (group)
        *group++ = '\0';
    struct passwd *pw = getpwnam(user);
    char *end;
    if (pw) {
        *uid = pw->pw_uid;
        *gid = pw->pw_gid;
    } else {
        unsigned long n = strtoul(user, &end, 10);
        if (!*user || *end)
            return -ENOENT;
        *uid = (uid_t)n;
    }
    if (group && *group) {
        struct group *gr = getgrnam(group);
        if (gr) {
            *gid = gr->gr_gid;
        } else {
            unsigned long n = strtoul(group, &end, 10);
            if (*end)
                return -ENOENT;
            *gid = (gid_t)n;
        }
    }
    return 0;
}

static int fail(int *ready_fd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(int *ready_fd, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (*ready_fd >= 0)
        report_ready(ready_fd, buf);
    else
        fprintf(stderr, "faxfs: %s\n", buf);
    return 1;
}

static enum options_result load_options(int argc, char **argv, struct daemon_options *opt,
                                        struct config_words *words, char ***merged)
{
    int required;
    const char *path = options_config_path(argc, argv, &required);
    char err[512];
    if (config_read(path, required, options_kind, words, err, sizeof err) < 0) {
        fprintf(stderr, "faxfs: %s\n", err);
        return OPTIONS_EXIT_USAGE;
    }
    char **v = calloc((size_t)(argc + words->count + 1), sizeof *v);
    const char **origins = calloc((size_t)(argc + words->count + 1), sizeof *origins);
    if (!v || !origins) {
        free(v);
        free(origins);
        return OPTIONS_EXIT_USAGE;
    }
    v[0] = argv[0];
    for (int i = 0; i < words->count; i++) {
        v[1 + i] = words->words[i];
        origins[1 + i] = words->origins[i];
    }
    for (int i = 1; i < argc; i++)
        v[words->count + i] = argv[i];
    *merged = v;
    enum options_result r = options_parse_from(argc + words->count, v, origins, opt);
    free(origins);
    return r;
}

/* --sendmail-user: the user and primary group sendmail runs as. */
static int sendmail_user_of(const char *name, uid_t *uid, gid_t *gid)
{
    char buf[4096];
    struct passwd pw, *res = NULL;
    if (getpwnam_r(name, &pw, buf, sizeof buf, &res) != 0 || !res)
        return -ENOENT;
    *uid = res->pw_uid;
    *gid = res->pw_gid;
    return 0;
}

static struct notify_config notify_config_of(const struct daemon_options *opt)
{
    enum notify_mail_policy mail = NOTIFY_MAIL_NONE;
    if (opt->notify_mail)
        notify_mail_policy_parse(opt->notify_mail, &mail); /* checked by options_parse */
    struct notify_config c = {
        .command = opt->notify_cmd, .on_retry = opt->notify_retry, .mail = mail, .log = daemon_log,
        .sendmail = opt->sendmail,
    };
    if (opt->sendmail_user) {
        c.sendmail_run_as = true;
        if (sendmail_user_of(opt->sendmail_user, &c.sendmail_uid, &c.sendmail_gid) < 0 && mail != NOTIFY_MAIL_NONE) {
            /* Never fall back to root: no mail until the user exists. */
            logf_(LOG_ERR, "--sendmail-user: no user named '%s': no mail is sent; create the user or change the setting",
                  opt->sendmail_user);
            c.mail = NOTIFY_MAIL_NONE;
        }
    }
    return c;
}

/* SIGHUP is blocked in every thread and taken here: it re-reads the
 * configuration and applies what can change while calls run (the
 * notification settings); the rest takes effect at the next start. */
struct reloader {
    pthread_t thread;
    bool ready;   /* lock initialised: reloader_stop() has work */
    bool running; /* thread started */
    int argc;
    char **argv;
    struct queue *q;
    pthread_mutex_t lock; /* protects notifier, stopping */
    struct notifier *notifier;
    bool stopping;
    struct daemon_options opt; /* the settings of the last reload */
    struct config_words words;
    char **merged;
};

static void reloader_apply(struct reloader *r)
{
    struct daemon_options opt;
    struct config_words words;
    char **merged = NULL;
    if (load_options(r->argc, r->argv, &opt, &words, &merged) != OPTIONS_RUN) {
        logf_(LOG_ERR, "SIGHUP: the configuration has errors (see above); nothing changed");
        options_free(&opt);
        config_words_free(&words);
        free(merged);
        return;
    }
    struct notify_config ncfg = notify_config_of(&opt);
    struct notifier *fresh = NULL;
    if (ncfg.command || ncfg.mail != NOTIFY_MAIL_NONE) {
        int rc = notifier_start(&fresh, r->q, &ncfg);
        if (rc < 0) {
            logf_(LOG_ERR, "SIGHUP: cannot start notifications: %s; the old settings stay", strerror(-rc));
            options_free(&opt);
            config_words_free(&words);
            free(merged);
            return;
        }
    }
    pthread_mutex_lock(&r->lock);
    struct notifier *old = r->notifier;
    r->notifier = fresh;
    pthread_mutex_unlock(&r->lock);
    notifier_stop(old);
    options_free(&r->opt);
    config_words_free(&r->words);
    free(r->merged);
    r->opt = opt;
    r->words = words;
    r->merged = merged;
    logf_(LOG_NOTICE, "SIGHUP: notification settings reloaded (command %s, mail %s); other settings apply at the next start",
          opt.notify_cmd ? "on" : "off", opt.notify_mail ? opt.notify_mail : "none");
}

static void *reloader_main(void *arg)
{
    struct reloader *r = arg;
    sigset_t hup;
    sigemptyset(&hup);
    sigaddset(&hup, SIGHUP);
    for (;;) {
        int sig;
        if (sigwait(&hup, &sig) != 0)
            continue;
        pthread_mutex_lock(&r->lock);
        bool stopping = r->stopping;
        pthread_mutex_unlock(&r->lock);
        if (stopping)
            return NULL;
        reloader_apply(r);
    }
}

/* Starts the notifier of the start-up settings (a failure only turns
 * notifications off), then the thread. Returns 0 or -errno; either way
 * reloader_stop() undoes what was done. */
static int reloader_start(struct reloader *r, int argc, char **argv, struct queue *q,
                          const struct daemon_options *opt)
{
    *r = (struct reloader){.argc = argc, .argv = argv, .q = q};
    pthread_mutex_init(&r->lock, NULL);
    r->ready = true;
    struct notify_config ncfg = notify_config_of(opt);
    int rc;
    if ((ncfg.command || ncfg.mail != NOTIFY_MAIL_NONE) && (rc = notifier_start(&r->notifier, q, &ncfg)) < 0)
        logf_(LOG_ERR, "notifications are off: %s", strerror(-rc));
    if ((rc = pthread_create(&r->thread, NULL, reloader_main, r)) != 0)
        return -rc;
    r->running = true;
    return 0;
}

static void reloader_stop(struct reloader *r)
{
    if (!r->ready)
        return;
    if (r->running) {
        pthread_mutex_lock(&r->lock);
        r->stopping = true;
        pthread_mutex_unlock(&r->lock);
        pthread_kill(r->thread, SIGHUP);
        pthread_join(r->thread, NULL);
    }
    notifier_stop(r->notifier);
    options_free(&r->opt);
    config_words_free(&r->words);
    free(r->merged);
    pthread_mutex_destroy(&r->lock);
    *r = (struct reloader){0};
}

/* The running daemon. daemon_start() builds its parts in the order below
 * and daemon_stop() tears down in the reverse order whatever was built (a
 * part not built is NULL), on a failed start as at the end. */
struct daemon {
    int argc;
    char **argv;
    /* The configuration file's words go before the command line's, so the
     * command line overrides them; settings point into these strings for
     * the daemon's whole life. */
    struct daemon_options opt;
    struct config_words words;
    char **merged_argv;
    int ready_fd; /* to the waiting parent until ready, else -1 */
    /* Users and groups, resolved once from the options. */
    gid_t admin_gid; /* (gid_t)-1 without --admin-group */
    gid_t priority_gid; /* (gid_t)-1 without --priority-group */
    uid_t receive_uid;
    gid_t receive_gid;
    uid_t convert_uid;
    gid_t convert_gid;
    char convert_warning[300];
    char converter[4200];
    char sim_dir[4200], scratch_dir[4200];
    /* The parts, in the order they are built. */
    struct wiring w;           /* w.pool, then w.q */
    struct fs *fs;
    struct reloader reloader;  /* with the notifier */
    struct deliver_config dcfg; /* inbound routes' users resolved */
    struct deliverer *deliverer; /* deliveries of received faxes and receipts */
    struct queue_receipt_default receipt_defaults[64]; /* [receipt USER], users resolved */
    int nreceipt_defaults;
    struct queue_backend *store; /* --store postgresql: the backend; NULL: the spool */
};

/* Resolves the users, groups and programs the options name, before
 * anything starts. Returns 0, or the exit status after saying why. */
static int daemon_resolve(struct daemon *d)
{
    const struct daemon_options *opt = &d->opt;
    if (admin_gid_of(opt->admin_group, &d->admin_gid) < 0) {
        fprintf(stderr, "faxfs: --admin-group: no group named '%s'\n", opt->admin_group);
        return 2;
    }
    if (admin_gid_of(opt->priority_group, &d->priority_gid) < 0) {
        fprintf(stderr, "faxfs: --priority-group: no group named '%s'; create it or fix the name\n",
                opt->priority_group);
        return 2;
    }
    if (owner_of(opt->receive_owner, &d->receive_uid, &d->receive_gid) < 0) {
        fprintf(stderr, "faxfs: --receive-owner: no such user or group in '%s'\n", opt->receive_owner);
        return 2;
    }
    if (opt->convert_sandboxes >= 0) {
        struct sandbox_pool_limits l = {opt->convert_sandboxes, 0, 0};
        sandbox_pool_set_limits(&l);
    }
    int rc = convert_user_of(opt->convert_user, &d->convert_uid, &d->convert_gid, d->convert_warning,
                             sizeof d->convert_warning);
    if (rc < 0) {
        if (rc == -EPERM)
            fprintf(stderr, "faxfs: --convert-user: '%s' is root or in group root, and documents are never "
                    "converted as root; give another user\n", opt->convert_user ? opt->convert_user : "nobody");
        else
            fprintf(stderr, "faxfs: --convert-user: no user named '%s'; give an existing user other than root\n",
                    opt->convert_user ? opt->convert_user : "nobody");
        return 2;
    }
    char rwhy[320];
    if (deliver_resolve_ids(opt->receive_routes, d->dcfg.ids, rwhy, sizeof rwhy) < 0) {
        fprintf(stderr, "faxfs: %s\n", rwhy);
        return 2;
    }
    for (int i = 0; i < opt->nreceipt_users; i++) {
        struct queue_receipt_default *rd = &d->receipt_defaults[d->nreceipt_defaults];
        gid_t ignored;
        if (sendmail_user_of(opt->receipt_users[i].user, &rd->uid, &ignored) < 0) {
            fprintf(stderr, "faxfs: [receipt %s]: no user named '%s'; fix the name or remove the section\n",
                    opt->receipt_users[i].user, opt->receipt_users[i].user);
            return 2;
        }
        if (!opt->receipt_users[i].notify[0]) {
            fprintf(stderr, "faxfs: [receipt %s]: notify_when without notify; give the addresses "
                    "(--receipt-notify %s=ADDRS)\n", opt->receipt_users[i].user, opt->receipt_users[i].user);
            return 2;
        }
        char list[sizeof rd->notify];
        snprintf(list, sizeof list, "%s", opt->receipt_users[i].notify);
        for (char *save = NULL, *a = strtok_r(list, ",", &save); a; a = strtok_r(NULL, ",", &save))
            if (!mail_address_ok(a)) {
                fprintf(stderr, "faxfs: [receipt %s]: '%s' is not a plain mail address (local@domain)\n",
                        opt->receipt_users[i].user, a);
                return 2;
            }
        snprintf(rd->notify, sizeof rd->notify, "%s", opt->receipt_users[i].notify);
        rd->when = opt->receipt_users[i].when;
        d->nreceipt_defaults++;
    }
    uid_t mail_uid;
    gid_t mail_gid;
    if (opt->sendmail_user && sendmail_user_of(opt->sendmail_user, &mail_uid, &mail_gid) < 0) {
        fprintf(stderr, "faxfs: --sendmail-user: no user named '%s'\n", opt->sendmail_user);
        return 2;
    }
    if (converter_path(d->converter, sizeof d->converter) < 0) {
        fprintf(stderr, "faxfs: cannot find the document converter next to the faxfs binary\n");
        return 2;
    }
    return 0;
}

/* The reason a start failed, as fail() will tell it (cut to fit). */
static void explain(char *why, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void explain(char *why, size_t len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, len, fmt, ap);
    va_end(ap);
}

/* The lines of the options as the modem pool takes them. */
static void modem_lines_of(const struct daemon_options *opt, struct modem_line_config *out)
{
    for (int i = 0; i < opt->nlines; i++) {
        const struct daemon_line *l = &opt->lines[i];
        out[i] = (struct modem_line_config){
            .name = l->name, .spec = l->spec, .channels = l->channels, .tsid = l->tsid, .header = l->header,
            .caller_id = l->caller_id,
            .sip = {
                .user = l->user, .password = l->password, .local = l->local, .codecs = l->codecs,
                .no_t38 = l->t38 == 0, .registrar = l->registrar, .auth_user = l->auth_user,
                .expires_s = l->expires, .outbound_proxy = l->outbound_proxy, .keepalive_s = l->keepalive,
                /* Who may call in (at a registered contact too): one rule for every line. */
                .allow = opt->sip_allow, .calls_per_source = opt->sip_calls_per_source,
                .inbound_user = opt->sip_inbound_user,
                .inbound_password = opt->sip_inbound_password ? opt->sip_inbound_password
                                                              : getenv("FAXFS_SIP_INBOUND_PASSWORD"),
            },
        };
    }
}

static int daemon_start_modems(struct daemon *d, char *why, size_t len)
{
    const struct daemon_options *opt = &d->opt;
    char err[512] = "";
    d->w = (struct wiring){.log = daemon_log};
    struct modem_line_config lines[OPTIONS_MAX_LINES];
    modem_lines_of(opt, lines);
    struct modem_pool_config mcfg = {
        .lines = lines,
        .nlines = opt->nlines,
        .channels = opt->modems,
        .line_spec = opt->line_spec,
        .pace = strcmp(opt->sim_pace, "realtime") == 0 ? MODEM_PACE_REALTIME : MODEM_PACE_FAST,
        .sim_dir = d->sim_dir,
        .sim_setup_seconds = opt->sim_setup_time,
        .dsp_priority = opt->dsp_priority,
        .scratch_dir = d->scratch_dir,
        .tsid = opt->tsid,
        .inbound = &wiring_inbound_ops,
        .inbound_ctx = &d->w,
        .station_number = opt->station_number,
        .audiosocket_number = opt->audiosocket_number,
        .listen_spec = opt->listen_spec,
        .listen_more = opt->listen_more,
        .sip = {
            /* The environment keeps the secret out of ps(1). */
            .user = opt->sip_user, .password = opt->sip_password ? opt->sip_password : getenv("FAXFS_SIP_PASSWORD"),
            .local = opt->sip_local,
            .codecs = opt->sip_codecs, .no_t38 = opt->sip_no_t38,
            .allow = opt->sip_allow, .calls_per_source = opt->sip_calls_per_source,
            .inbound_user = opt->sip_inbound_user,
            .inbound_password = opt->sip_inbound_password ? opt->sip_inbound_password
                                                          : getenv("FAXFS_SIP_INBOUND_PASSWORD"),
            .registrar = opt->sip_registrar, .auth_user = opt->sip_auth_user, .expires_s = opt->sip_expires,
            .outbound_proxy = opt->sip_outbound_proxy, .keepalive_s = opt->sip_keepalive,
        },
        .inbound_slots = opt->inbound_calls,
        .audiosocket_allow = opt->audiosocket_allow,
        .receive_max_pages = opt->receive_max_pages,
        .receive_max_seconds = opt->receive_max_duration,
        .receive_max_bytes = (long long)opt->receive_max_mib << 20,
    };
    int rc = modem_pool_create(&d->w.pool, &mcfg, err, sizeof err);
    if (rc < 0)
        explain(why, len, "modems: %s", err[0] ? err : strerror(-rc));
    else if (opt->dsp_priority > 0 && modem_pool_priority_note(d->w.pool))
        logf_(LOG_WARNING, "modems: --dsp-priority %d not applied: %s; the DSP threads run at normal priority",
              opt->dsp_priority, modem_pool_priority_note(d->w.pool));
    else if (opt->dsp_priority > 0)
        logf_(LOG_INFO, "modems: the DSP threads run at real-time priority %d (SCHED_RR)", opt->dsp_priority);
    return rc;
}

static int daemon_start_queue(struct daemon *d, char *why, size_t len)
{
    const struct daemon_options *opt = &d->opt;
    struct queue_line_def lines[OPTIONS_MAX_LINES];
    char shown[OPTIONS_MAX_LINES][256];
    for (int i = 0; i < opt->nlines; i++) {
        options_spec_shown(opt->lines[i].spec, shown[i], sizeof shown[i]);
        lines[i] = (struct queue_line_def){opt->lines[i].name, shown[i], opt->lines[i].channels};
    }
    struct queue_config qcfg = {
        .spool_dir = opt->spool_dir,
        .line = wiring_line_ops(&d->w),
        .modems = opt->modems,
        .lines = lines,
        .nlines = opt->nlines,
        .routes = opt->routes,
        .nroutes = opt->nroutes,
        .per_destination_limit = opt->per_destination,
        .lease_seconds = opt->store_lease,
        .batch_max = opt->batch_max,
        .max_attempts = opt->max_attempts,
        .history_days = opt->history_days,
        .received_days = opt->received_days,
        .received_empty_hours = opt->received_empty_hours,
        .admin_gid = d->admin_gid,
        .restrict_priority = opt->priority_group != NULL,
        .priority_gid = d->priority_gid,
        .receive_uid = d->receive_uid,
        .receive_gid = d->receive_gid,
        .log = daemon_log,
        .converter = d->converter,
        .convert_uid = d->convert_uid,
        .convert_gid = d->convert_gid,
        .dialplan = opt->dialplan,
        .mail_address_ok = mail_address_ok,
        .receipt_defaults = d->receipt_defaults,
        .nreceipt_defaults = d->nreceipt_defaults,
        /* The mount serves at once; the stored jobs load behind it. */
        .background_load = true,
    };
    if (opt->retry_delay > 0) {
        for (int i = 0; i < QF_COUNT; i++)
            qcfg.retry_delay[i] = opt->retry_delay;
    }
    int src = store_backend(opt, &d->store, why, len);
    if (src < 0)
        return src;
    qcfg.backend = d->store;
    static char node_name[256]; /* read by the queue for the daemon's life */
    store_node_name(opt, node_name, sizeof node_name);
    qcfg.node_name = node_name;
    char where[600];
    store_describe(opt, where, sizeof where);
    /* The queue may start calls while queue_open runs (jobs due at start):
     * the wiring reads w.q, which queue_open sets before dispatching. */
    int rc = queue_open(&d->w.q, &qcfg);
    if (rc < 0) {
        explain(why, len, "cannot open the %s: %s", where, strerror(-rc));
        return rc;
    }
    __atomic_store_n(&d->w.inbound_q, d->w.q, __ATOMIC_RELEASE);
    return 0;
}

static int daemon_start_fs(struct daemon *d, char *why, size_t len)
{
    const struct daemon_options *opt = &d->opt;
    char err[512] = "";
    struct fs_options fopt = {
        .mountpoint = opt->mountpoint,
        .mount_opts = opt->mount_opts[0] ? opt->mount_opts : NULL,
        .debug = opt->debug,
        .admin_gid = d->admin_gid,
        .max_drafts_per_user = opt->max_drafts_per_user,
        .max_outbox_bytes = (unsigned long long)opt->max_outbox_mb_per_user << 20,
        .max_jobs_per_user = opt->max_jobs_per_user,
        .max_recipients = opt->max_recipients,
        .max_open_files_per_user = opt->max_open_files_per_user,
        .draft_expire_days = opt->draft_expire_days,
    };
    int rc = fs_create(&d->fs, d->w.q, &fopt, err, sizeof err);
    if (rc < 0)
        explain(why, len, "cannot mount %s: %s", opt->mountpoint, err[0] ? err : strerror(-rc));
    return rc;
}

/* Spool and scratch area, modem pool, queue engine, filesystem view,
 * notifier and reloader. Returns 0, or -errno with the reason in why;
 * then daemon_stop() tears down what was built. */
static int daemon_start(struct daemon *d, char *why, size_t len)
{
    const struct daemon_options *opt = &d->opt;
    snprintf(d->sim_dir, sizeof d->sim_dir, "%s/sim", opt->spool_dir);
    snprintf(d->scratch_dir, sizeof d->scratch_dir, "%s/modem-tmp", opt->spool_dir);
    int rc = mkdir_p(opt->spool_dir, 0700);
    if (rc < 0) {
        explain(why, len, "cannot create spool %s: %s", opt->spool_dir, strerror(-rc));
        return rc;
    }
    if ((rc = prepare_scratch_dir(d->scratch_dir)) < 0) {
        explain(why, len, "cannot prepare %s: %s", d->scratch_dir, strerror(-rc));
        return rc;
    }
    if ((rc = daemon_start_modems(d, why, len)) < 0 || (rc = daemon_start_queue(d, why, len)) < 0 ||
        (rc = daemon_start_fs(d, why, len)) < 0)
        return rc;
    if ((rc = reloader_start(&d->reloader, d->argc, d->argv, d->w.q, opt)) < 0) {
        explain(why, len, "cannot start: %s", strerror(-rc));
        return rc;
    }
    /* Always: receipts of sent faxes (docs/receipts.md) go through it too;
     * received faxes are routed only when routes are configured. */
    {
        d->dcfg.routes = opt->receive_routes && opt->receive_routes->n > 0 ? opt->receive_routes : NULL;
        d->dcfg.receive_uid = d->receive_uid;
        d->dcfg.receive_gid = d->receive_gid;
        d->dcfg.policy = opt->delivery;
        d->dcfg.print_command = opt->print_command;
        d->dcfg.sendmail = opt->sendmail;
        d->dcfg.sendmail_run_as =
            opt->sendmail_user && sendmail_user_of(opt->sendmail_user, &d->dcfg.sendmail_uid, &d->dcfg.sendmail_gid) == 0;
        d->dcfg.scratch_dir = d->scratch_dir;
        d->dcfg.log = daemon_log;
        if ((rc = deliverer_start(&d->deliverer, d->w.q, &d->dcfg)) < 0) {
            explain(why, len, "cannot start deliveries (received faxes, receipts): %s", strerror(-rc));
            return rc;
        }
    }
    return 0;
}

/* The reverse of daemon_start(), for whatever it built. */
static void daemon_stop(struct daemon *d)
{
    if (d->fs)
        fs_destroy(d->fs);
    d->fs = NULL;
    deliverer_stop(d->deliverer); /* before the queue it reads */
    d->deliverer = NULL;
    reloader_stop(&d->reloader); /* the notifier goes with it, before the queue */
    /* Stop dispatching and abort calls first; the modem pool delivers the
     * aborted calls' reports to a queue that still exists. */
    if (d->w.q)
        queue_stop(d->w.q);
    if (d->w.pool)
        modem_pool_destroy(d->w.pool);
    if (d->w.q)
        queue_close(d->w.q);
    d->w = (struct wiring){0};
    store_backend_free(d->store);
    d->store = NULL;
}

/* Says what runs and what to fix, then tells the parent and systemd. */
static void daemon_announce(struct daemon *d)
{
    const struct daemon_options *opt = &d->opt;
    if (d->convert_warning[0])
        logf_(LOG_WARNING, "%s", d->convert_warning);
    check_sandbox(d->converter, d->convert_uid, d->convert_gid);
    for (int i = 0; i < opt->nlines; i++) {
        char shown[256];
        options_spec_shown(opt->lines[i].spec, shown, sizeof shown);
        logf_(LOG_INFO, "line %s: %s, %d channel%s", opt->lines[i].name, shown, opt->lines[i].channels,
              opt->lines[i].channels == 1 ? "" : "s");
    }
    char where[600];
    store_describe(opt, where, sizeof where);
    logf_(LOG_INFO, "serving %s from %s (%d modems, %d line%s)", opt->mountpoint, where,
          modem_pool_channels(d->w.pool), opt->nlines, opt->nlines == 1 ? "" : "s");
    int sip_port = modem_pool_sip_port(d->w.pool);
    if (sip_port > 0)
        logf_(LOG_INFO, "answering SIP calls on UDP port %d", sip_port);
    if (sip_port > 0 && !opt->sip_allow && !opt->sip_inbound_user)
        logf_(LOG_WARNING, "SIP calls are taken from any address without a password; "
                           "limit them with --sip-allow or --sip-inbound-user");
    bool registers = false;
    for (int i = 0; i < opt->nlines; i++)
        registers |= opt->lines[i].registrar != NULL;
    if (registers && !opt->sip_allow && !opt->sip_inbound_user)
        logf_(LOG_WARNING, "calls to the registered SIP line are taken from any address; limit them with "
                           "--sip-allow (the registrar's or proxy's addresses)");
    report_ready(&d->ready_fd, NULL);
    char status[4200];
    snprintf(status, sizeof status, "READY=1\nSTATUS=serving %s", opt->mountpoint);
    readiness_notify(status);
}

/* The daemon's life, from the options to the end; returns the exit
 * status. */
static int daemon_run(struct daemon *d)
{
    switch (load_options(d->argc, d->argv, &d->opt, &d->words, &d->merged_argv)) {
    case OPTIONS_EXIT_OK: return 0;
    case OPTIONS_EXIT_USAGE: return 2;
    case OPTIONS_RUN: break;
    }

    int action = store_action(&d->opt);
    if (action >= 0)
        return action;
    if (d->opt.check_spool) {
        int r = queue_check_spool(d->opt.check_spool, stdout);
        if (r < 0)
            fprintf(stderr, "faxfs: cannot check %s: %s\n", d->opt.check_spool, strerror(-r));
        return r < 0 ? 2 : r > 0 ? 1 : 0;
    }
    int rc = daemon_resolve(d);
    if (rc != 0)
        return rc;
    if (!d->opt.foreground) {
        rc = detach(&d->ready_fd);
        if (rc < 0) {
            fprintf(stderr, "faxfs: cannot start in the background: %s\n", strerror(-rc));
            return 1;
        }
        log_to_stderr = false;
        openlog("faxfs", LOG_PID, LOG_DAEMON);
    }
    signal(SIGPIPE, SIG_IGN);
    /* Before any thread exists, so that every thread inherits the mask and
     * only the reloader takes SIGHUP. */
    sigset_t hup;
    sigemptyset(&hup);
    sigaddset(&hup, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &hup, NULL);
    raise_fd_limit();

    char why[1024];
    if (daemon_start(d, why, sizeof why) < 0) {
        daemon_stop(d);
        return fail(&d->ready_fd, "%s", why);
    }
    daemon_announce(d);

    rc = fs_run(d->fs);
    readiness_notify("STOPPING=1");
    logf_(LOG_INFO, "unmounting %s", d->opt.mountpoint);
    daemon_stop(d);
    logf_(LOG_INFO, "stopped");
    return rc == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    /* On main's stack, not static: a part daemon_stop() missed is a leak
     * that leak checkers report. */
    struct daemon d = {.argc = argc, .argv = argv, .ready_fd = -1};
    int status = daemon_run(&d);
    options_free(&d.opt);
    config_words_free(&d.words);
    free(d.merged_argv);
    return status;
}
