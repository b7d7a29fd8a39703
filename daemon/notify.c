/*
 * notify.c - the notifier: a queue listener that hands job ids to one
 * thread, which decides what each change means (done, failed, canceled,
 * a retry, a received fax), runs the hook command and mails the owner.
 * Children are reaped without blocking and killed past their time limit;
 * their failures are logged and never reach the queue.
 */
#include "daemon/notify.h"

#include "daemon/mail_message.h"
#include "daemon/sendmail.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

/* Every child's environment starts from this and nothing of the
 * daemon's: FAXFS_SIP_PASSWORD and whatever else the daemon was started
 * with never reaches a hook or sendmail. */
static const char *const child_env_base[] = {
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "LANG=C",
    "LC_ALL=C",
};
#define CHILD_ENV_BASE (sizeof child_env_base / sizeof child_env_base[0])

static const char *const event_names[] = {
    [NOTIFY_NONE] = "none",       [NOTIFY_DONE] = "done",   [NOTIFY_FAILED] = "failed",
    [NOTIFY_CANCELED] = "canceled", [NOTIFY_RETRY] = "retry", [NOTIFY_RECEIVED] = "received",
};

const char *notify_event_name(enum notify_event e)
{
    return (unsigned)e < sizeof event_names / sizeof event_names[0] ? event_names[e] : "none";
}

int notify_mail_policy_parse(const char *s, enum notify_mail_policy *out)
{
    static const struct { const char *name; enum notify_mail_policy p; } table[] = {
        {"none", NOTIFY_MAIL_NONE}, {"failures", NOTIFY_MAIL_FAILURES}, {"all", NOTIFY_MAIL_ALL},
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        if (strcmp(s, table[i].name) == 0) {
            *out = table[i].p;
            return 0;
        }
    }
    return -EINVAL;
}

enum notify_event notify_event_of(const struct job *j, enum notify_event last, int last_attempts)
{
    enum notify_event e;
    switch (j->status) {
    case JOB_DONE: e = j->type == JOB_RECEIVE ? NOTIFY_RECEIVED : NOTIFY_DONE; break;
    case JOB_FAILED: e = NOTIFY_FAILED; break;
    case JOB_CANCELED: e = NOTIFY_CANCELED; break;
    case JOB_RETRYING: e = NOTIFY_RETRY; break;
    default: return NOTIFY_NONE;
    }
    if (e == NOTIFY_RETRY)
        return last == NOTIFY_RETRY && last_attempts == j->attempts ? NOTIFY_NONE : e;
    return last == e ? NOTIFY_NONE : e;
}

/* Copies a value for the environment or a mail header: control
 * characters (newlines above all) become spaces. */
static void clean_copy(char *out, size_t len, const char *in)
{
    size_t i = 0;
    for (; in && in[i] && i + 1 < len; i++)
        out[i] = (unsigned char)in[i] < 0x20 || in[i] == 0x7f ? ' ' : in[i];
    out[i] = '\0';
}

size_t notify_environment(const struct job *j, enum notify_event e, char (*out)[256], size_t max)
{
    char num[7][24], when[4][40], prio[16];
    snprintf(num[0], sizeof num[0], "%llu", (unsigned long long)j->id);
    snprintf(num[1], sizeof num[1], "%d", j->page_count);
    snprintf(num[2], sizeof num[2], "%d", j->pages_sent);
    snprintf(num[3], sizeof num[3], "%d", j->attempts);
    snprintf(num[4], sizeof num[4], "%d", j->max_attempts);
    snprintf(num[5], sizeof num[5], "%lu", (unsigned long)j->owner_uid);
    if (j->bit_rate > 0)
        snprintf(num[6], sizeof num[6], "%d", j->bit_rate);
    else
        num[6][0] = '\0';
    job_format_time(j->submitted, when[0], sizeof when[0]);
    job_format_time(j->finished, when[1], sizeof when[1]);
    job_format_time(j->next_attempt, when[2], sizeof when[2]);
    job_format_time(j->scheduled, when[3], sizeof when[3]);
    job_format_priority(j->priority, prio, sizeof prio);
    const struct { const char *key, *value; } vars[] = {
        {"JOB_ID", num[0]},
        {"EVENT", notify_event_name(e)},
        {"TYPE", job_type_name(j->type)},
        {"STATUS", job_status_name(j->status)},
        {"RECIPIENT_NUMBER", j->recipient_number},
        {"RECIPIENT_NAME", j->recipient_name},
        {"SENDER_NAME", j->sender_name},
        {"BILLING_CODE", j->billing_code},
        {"OWNER_UID", num[5]},
        {"PAGE_COUNT", num[1]},
        {"PAGES_SENT", num[2]},
        {"ATTEMPTS", num[3]},
        {"MAX_ATTEMPTS", num[4]},
        {"PRIORITY", prio},
        {"SUBMITTED", when[0]},
        {"SCHEDULED", when[3]},
        {"FINISHED", when[1]},
        {"NEXT_ATTEMPT", when[2]},
        {"ERROR_CODE", j->error_code},
        {"ERROR_TEXT", j->error_text},
        {"MODEM", j->modem},
        {"BIT_RATE", num[6]},
        {"REMOTE_ID", j->remote_id},
        {"CALLER_ID", j->caller_id},
    };
    size_t n = 0;
    for (size_t i = 0; i < sizeof vars / sizeof vars[0] && n < max; i++) {
        char value[200];
        clean_copy(value, sizeof value, vars[i].value);
        snprintf(out[n++], sizeof out[0], "FAXFS_%s=%s", vars[i].key, value);
    }
    return n;
}

/* Subject and text of the owner's mail. Outside values (the number, the
 * recipient's name, the error text) are stripped of control characters
 * here, and mail_message_write() encodes whatever is left. */
static void mail_subject_and_text(const struct job *j, enum notify_event e, char *subject, size_t sublen, char *text,
                                  size_t textlen)
{
    char number[JOB_NUMBER_MAX], err[JOB_ERROR_TEXT_MAX], name[JOB_TEXT_MAX];
    clean_copy(number, sizeof number, j->type == JOB_RECEIVE ? j->caller_id : j->recipient_number);
    clean_copy(err, sizeof err, j->error_text);
    clean_copy(name, sizeof name, j->recipient_name);
    if (j->type == JOB_RECEIVE)
        snprintf(subject, sublen, "fax %llu received from %s: %s", (unsigned long long)j->id,
                 number[0] ? number : "an unknown caller", notify_event_name(e));
    else
        snprintf(subject, sublen, "fax %llu to %s%s%s%s: %s", (unsigned long long)j->id, number,
                 name[0] ? " (" : "", name, name[0] ? ")" : "", notify_event_name(e));
    snprintf(text, textlen,
             "%s.\n"
             "Pages: %d of %d sent, after %d of %d attempts.\n"
             "%s%s%s"
             "\nThe job's log and pages are under the faxfs mount: history/%llu/ (or jobs/%llu/).\n",
             subject, j->pages_sent, j->page_count, j->attempts, j->max_attempts, err[0] ? "Reason: " : "", err,
             err[0] ? "\n" : "", (unsigned long long)j->id, (unsigned long long)j->id);
}

int notify_mail_write(const struct job *j, enum notify_event e, const char *owner, int out_fd, char *why,
                      size_t whylen)
{
    if (!owner || !owner[0]) {
        snprintf(why, whylen, "uid %lu has no user name to mail", (unsigned long)j->owner_uid);
        return -EINVAL;
    }
    char subject[JOB_NUMBER_MAX + JOB_TEXT_MAX + 96], text[sizeof subject + JOB_ERROR_TEXT_MAX + 256];
    mail_subject_and_text(j, e, subject, sizeof subject, text, sizeof text);
    const char *to[] = {owner};
    const char *extra[] = {"Auto-Submitted: auto-generated"};
    const struct mail_message m = {
        .to = to, .nto = 1, .subject = subject, .text = text, .extra_headers = extra, .nextra = 1,
    };
    return mail_message_write(&m, out_fd, why, whylen);
}

int notify_mail_message(const struct job *j, enum notify_event e, const char *owner, char *buf, size_t len)
{
    int fd = memfd_create("faxfs-notify-mail", MFD_CLOEXEC);
    if (fd < 0)
        return -1;
    char why[200];
    ssize_t n = -1;
    if (notify_mail_write(j, e, owner, fd, why, sizeof why) == 0 && len > 0) {
        off_t size = lseek(fd, 0, SEEK_END);
        if (size >= 0 && (size_t)size < len && (n = pread(fd, buf, (size_t)size, 0)) == size)
            buf[n] = '\0';
        else
            n = -1;
    }
    close(fd);
    return (int)n;
}

/* ---- the notifier thread ---- */

struct told {
    uint64_t id;
    enum notify_event last;
    int attempts;
};

struct child {
    pid_t pid;
    uint64_t job;
    const char *what; /* "notify command" or "sendmail" */
    struct timespec deadline;
    struct sendmail_child mail; /* sendmail: polled, classified and killed by sendmail.c */
    bool is_mail;
};

struct notifier {
    struct queue *q;
    struct notify_config cfg;
    struct sendmail_config mailer;
    pthread_t thread;
    pthread_mutex_t lock; /* protects ids, nids, stopping */
    pthread_cond_t wake;
    uint64_t *ids;        /* jobs changed, to look at */
    size_t nids, capids;
    bool stopping;
    /* owned by the thread alone */
    struct told *told;
    size_t ntold, captold;
    struct child children[64];
    int nchildren;
};

static void nlog(struct notifier *n, int level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void nlog(struct notifier *n, int level, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n->cfg.log)
        n->cfg.log(level, buf);
}

static void on_queue_event(void *ctx, enum queue_event ev, uint64_t id)
{
    struct notifier *n = ctx;
    if (id == 0 || ev == QE_LOG)
        return;
    pthread_mutex_lock(&n->lock);
    if (n->nids == n->capids) {
        size_t cap = n->capids ? n->capids * 2 : 64;
        uint64_t *v = realloc(n->ids, cap * sizeof *v);
        if (!v) {
            pthread_mutex_unlock(&n->lock);
            return; /* one notification may be missed; the queue is unharmed */
        }
        n->ids = v;
        n->capids = cap;
    }
    n->ids[n->nids++] = id;
    pthread_cond_signal(&n->wake);
    pthread_mutex_unlock(&n->lock);
}

static struct told *told_find(struct notifier *n, uint64_t id, bool create)
{
    for (size_t i = 0; i < n->ntold; i++)
        if (n->told[i].id == id)
            return &n->told[i];
    if (!create)
        return NULL;
    if (n->ntold == n->captold) {
        size_t cap = n->captold ? n->captold * 2 : 64;
        struct told *v = realloc(n->told, cap * sizeof *v);
        if (!v)
            return NULL;
        n->told = v;
        n->captold = cap;
    }
    n->told[n->ntold] = (struct told){.id = id};
    return &n->told[n->ntold++];
}

static void told_forget(struct notifier *n, uint64_t id)
{
    struct told *t = told_find(n, id, false);
    if (t)
        *t = n->told[--n->ntold];
}

static void add_child(struct notifier *n, pid_t pid, uint64_t job, const char *what)
{
    struct child *c = &n->children[n->nchildren++];
    c->pid = pid;
    c->job = job;
    c->what = what;
    c->is_mail = false;
    clock_gettime(CLOCK_MONOTONIC, &c->deadline);
    c->deadline.tv_sec += n->cfg.timeout_seconds;
}

/* Reaps finished children, kills those past their deadline; with wait,
 * waits for all (bounded by their deadlines). */
static void reap_children(struct notifier *n, bool wait_all)
{
    do {
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        for (int i = 0; i < n->nchildren;) {
            struct child *c = &n->children[i];
            if (c->is_mail) {
                char why[300];
                enum sendmail_result res = sendmail_poll(&c->mail, why, sizeof why);
                if (res == SENDMAIL_RUNNING) {
                    i++;
                    continue;
                }
                if (res != SENDMAIL_OK)
                    nlog(n, LOG_WARNING, "job %llu: the owner's mail was not sent (%s failure): %s",
                         (unsigned long long)c->job, sendmail_result_name(res), why);
                n->children[i] = n->children[--n->nchildren];
                continue;
            }
            int st;
            pid_t r = waitpid(c->pid, &st, WNOHANG);
            if (r == 0 && now.tv_sec >= c->deadline.tv_sec) {
                kill(c->pid, SIGKILL);
                waitpid(c->pid, &st, 0);
                nlog(n, LOG_WARNING, "job %llu: %s ran longer than %d s and was killed",
                     (unsigned long long)c->job, c->what, n->cfg.timeout_seconds);
                r = c->pid;
                st = 0;
            } else if (r > 0 && !(WIFEXITED(st) && WEXITSTATUS(st) == 0)) {
                nlog(n, LOG_WARNING, "job %llu: %s failed (%s %d); check it by hand with the job's FAXFS_* variables",
                     (unsigned long long)c->job, c->what, WIFEXITED(st) ? "exit status" : "signal",
                     WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
            }
            if (r != 0)
                n->children[i] = n->children[--n->nchildren];
            else
                i++;
        }
        if (wait_all && n->nchildren > 0)
            usleep(20 * 1000);
    } while (wait_all && n->nchildren > 0);
}

static int spawn_with_stdin(struct notifier *n, char *const argv[], char *const envp[], int stdin_fd, pid_t *pid)
{
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    if (stdin_fd >= 0)
        posix_spawn_file_actions_adddup2(&fa, stdin_fd, 0);
    else
        posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    /* None of the daemon's descriptors, inheritable or not. */
    posix_spawn_file_actions_addclosefrom_np(&fa, 3);
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    sigset_t none;
    sigemptyset(&none);
    posix_spawnattr_setsigmask(&attr, &none);
    sigset_t def;
    sigemptyset(&def);
    sigaddset(&def, SIGPIPE);
    posix_spawnattr_setsigdefault(&attr, &def);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    int r = posix_spawn(pid, argv[0], &fa, &attr, argv, envp);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    (void)n;
    return -r;
}

static void run_hook(struct notifier *n, const struct job *j, enum notify_event e)
{
    enum { NVARS = 32 };
    char vars[NVARS][256];
    size_t nv = notify_environment(j, e, vars, NVARS);
    char *envp[CHILD_ENV_BASE + NVARS + 1];
    size_t k = 0;
    for (size_t i = 0; i < CHILD_ENV_BASE; i++)
        envp[k++] = (char *)child_env_base[i];
    for (size_t i = 0; i < nv; i++)
        envp[k++] = vars[i];
    envp[k] = NULL;
    char *argv[] = {"/bin/sh", "-c", (char *)n->cfg.command, NULL};
    pid_t pid;
    int r = spawn_with_stdin(n, argv, envp, -1, &pid);
    if (r < 0) {
        nlog(n, LOG_ERR, "job %llu: cannot run the notify command: %s", (unsigned long long)j->id, strerror(-r));
        return;
    }
    add_child(n, pid, j->id, "notify command");
}

static bool wants_mail(const struct notifier *n, enum notify_event e)
{
    switch (n->cfg.mail) {
    case NOTIFY_MAIL_ALL: return e != NOTIFY_RETRY || n->cfg.on_retry;
    case NOTIFY_MAIL_FAILURES: return e == NOTIFY_FAILED;
    default: return false;
    }
}

static void send_mail(struct notifier *n, const struct job *j, enum notify_event e)
{
    char owner[64] = "", pwbuf[1024];
    struct passwd pw, *res = NULL;
    if (getpwuid_r(j->owner_uid, &pw, pwbuf, sizeof pwbuf, &res) == 0 && res)
        snprintf(owner, sizeof owner, "%s", res->pw_name);
    int fd = memfd_create("faxfs-notify-mail", MFD_CLOEXEC);
    if (fd < 0) {
        nlog(n, LOG_ERR, "job %llu: no mail sent: %s", (unsigned long long)j->id, strerror(errno));
        return;
    }
    char why[300];
    if (notify_mail_write(j, e, owner, fd, why, sizeof why) < 0) {
        close(fd);
        nlog(n, LOG_WARNING, "job %llu: no mail sent: %s", (unsigned long long)j->id, why);
        return;
    }
    const char *rcpt[] = {owner};
    struct child *c = &n->children[n->nchildren];
    enum sendmail_result r = sendmail_start(&n->mailer, NULL, rcpt, 1, fd, &c->mail, why, sizeof why);
    close(fd); /* sendmail has its own copy */
    if (r != SENDMAIL_RUNNING) {
        nlog(n, LOG_WARNING, "job %llu: the owner's mail was not sent (%s failure): %s", (unsigned long long)j->id,
             sendmail_result_name(r), why);
        return;
    }
    c->pid = c->mail.pid;
    c->job = j->id;
    c->what = "sendmail";
    c->is_mail = true;
    n->nchildren++;
}

static void look_at(struct notifier *n, uint64_t id)
{
    struct job j;
    if (queue_snapshot(n->q, id, &j) != 0) {
        told_forget(n, id); /* deleted */
        return;
    }
    if (j.unsaved)
        return; /* not stored yet: told once it is (QE_CHANGED then) */
    struct told *t = told_find(n, id, true);
    if (!t)
        return;
    enum notify_event e = notify_event_of(&j, t->last, t->attempts);
    if (e == NOTIFY_NONE) {
        if (j.status == JOB_QUEUED || j.status == JOB_SCHEDULED || j.status == JOB_PAUSED)
            t->last = NOTIFY_NONE; /* restarted or resumed: its next end is news again */
        return;
    }
    t->last = e;
    t->attempts = j.attempts;
    if (n->nchildren + 2 > (int)(sizeof n->children / sizeof n->children[0]))
        reap_children(n, true);
    if (n->cfg.command && (e != NOTIFY_RETRY || n->cfg.on_retry))
        run_hook(n, &j, e);
    if (wants_mail(n, e))
        send_mail(n, &j, e);
}

static void *notifier_main(void *arg)
{
    struct notifier *n = arg;
    pthread_mutex_lock(&n->lock);
    while (!n->stopping || n->nids > 0) {
        if (n->nids == 0) {
            struct timespec until;
            clock_gettime(CLOCK_REALTIME, &until);
            until.tv_nsec += 200 * 1000000L; /* reap children now and then */
            if (until.tv_nsec >= 1000000000L) {
                until.tv_nsec -= 1000000000L;
                until.tv_sec++;
            }
            pthread_cond_timedwait(&n->wake, &n->lock, &until);
        }
        uint64_t *ids = n->ids;
        size_t nids = n->nids;
        n->ids = NULL;
        n->nids = n->capids = 0;
        pthread_mutex_unlock(&n->lock);
        for (size_t i = 0; i < nids; i++)
            look_at(n, ids[i]);
        free(ids);
        reap_children(n, false);
        pthread_mutex_lock(&n->lock);
    }
    pthread_mutex_unlock(&n->lock);
    reap_children(n, true);
    return NULL;
}

/* Ends the thread (it reaps its children first) and frees n, which no
 * longer hears queue events. */
static void notifier_join_free(struct notifier *n)
{
    pthread_mutex_lock(&n->lock);
    n->stopping = true;
    pthread_cond_signal(&n->wake);
    pthread_mutex_unlock(&n->lock);
    pthread_join(n->thread, NULL);
    pthread_mutex_destroy(&n->lock);
    pthread_cond_destroy(&n->wake);
    free(n->ids);
    free(n->told);
    free(n);
}

int notifier_start(struct notifier **out, struct queue *q, const struct notify_config *cfg)
{
    struct notifier *n = calloc(1, sizeof *n);
    if (!n)
        return -ENOMEM;
    n->q = q;
    n->cfg = *cfg;
    if (!n->cfg.sendmail)
        n->cfg.sendmail = "/usr/sbin/sendmail";
    if (n->cfg.timeout_seconds <= 0)
        n->cfg.timeout_seconds = 60;
    n->mailer = (struct sendmail_config){
        .path = n->cfg.sendmail, .timeout_seconds = n->cfg.timeout_seconds, .run_as = n->cfg.sendmail_run_as,
        .uid = n->cfg.sendmail_uid, .gid = n->cfg.sendmail_gid,
    };
    pthread_mutex_init(&n->lock, NULL);
    pthread_cond_init(&n->wake, NULL);
    int r = pthread_create(&n->thread, NULL, notifier_main, n);
    if (r != 0) {
        pthread_mutex_destroy(&n->lock);
        pthread_cond_destroy(&n->wake);
        free(n);
        return -r;
    }
    if ((r = queue_subscribe(q, on_queue_event, n)) < 0) {
        notifier_join_free(n);
        return r;
    }
    *out = n;
    return 0;
}

void notifier_stop(struct notifier *n)
{
    if (!n)
        return;
    queue_unsubscribe(n->q, on_queue_event, n);
    notifier_join_free(n);
}
