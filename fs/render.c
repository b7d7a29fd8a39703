/*
 * render.c - the content of every synthetic file of the view, from a job
 * snapshot, the queue summary or a modem's counters. One table lists the
 * job properties; the value files and `info` both come from it, so the two
 * can never disagree.
 */
#include "fs/render.h"
#include "fs/names.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

typedef void (*field_fn)(const struct job *j, char *out, size_t outlen);

static void put_text(char *out, size_t outlen, const char *s) { snprintf(out, outlen, "%s", s); }
static void put_int(char *out, size_t outlen, long long v) { snprintf(out, outlen, "%lld", v); }
/* -1 means unknown for the call results: an empty file, not "-1". */
static void put_known(char *out, size_t outlen, long long v)
{
    if (v < 0)
        out[0] = '\0';
    else
        put_int(out, outlen, v);
}

static void f_id(const struct job *j, char *o, size_t n) { snprintf(o, n, "%" PRIu64, j->id); }
static void f_type(const struct job *j, char *o, size_t n) { put_text(o, n, job_type_name(j->type)); }
static void f_status(const struct job *j, char *o, size_t n) { put_text(o, n, job_status_name(j->status)); }
static void f_device_status(const struct job *j, char *o, size_t n) { put_text(o, n, j->device_status); }
static void f_recipient_number(const struct job *j, char *o, size_t n) { put_text(o, n, j->recipient_number); }
static void f_recipient_name(const struct job *j, char *o, size_t n) { put_text(o, n, j->recipient_name); }
static void f_sender_name(const struct job *j, char *o, size_t n) { put_text(o, n, j->sender_name); }
static void f_sender_company(const struct job *j, char *o, size_t n) { put_text(o, n, j->sender_company); }
static void f_sender_department(const struct job *j, char *o, size_t n) { put_text(o, n, j->sender_department); }
static void f_billing_code(const struct job *j, char *o, size_t n) { put_text(o, n, j->billing_code); }
static void f_tsid(const struct job *j, char *o, size_t n) { put_text(o, n, j->tsid); }
static void f_submitted(const struct job *j, char *o, size_t n) { job_format_time(j->submitted, o, n); }
static void f_scheduled(const struct job *j, char *o, size_t n) { job_format_time(j->scheduled, o, n); }
static void f_kill_time(const struct job *j, char *o, size_t n) { job_format_time(j->kill_time, o, n); }
static void f_next_attempt(const struct job *j, char *o, size_t n) { job_format_time(j->next_attempt, o, n); }
static void f_finished(const struct job *j, char *o, size_t n) { job_format_time(j->finished, o, n); }
static void f_changed(const struct job *j, char *o, size_t n) { job_format_time(j->changed, o, n); }
static void f_priority(const struct job *j, char *o, size_t n) { job_format_priority(j->priority, o, n); }
static void f_group(const struct job *j, char *o, size_t n)
{
    if (j->group)
        snprintf(o, n, "%" PRIu64, j->group);
    else
        o[0] = '\0';
}
static void f_page_count(const struct job *j, char *o, size_t n) { put_int(o, n, j->page_count); }
static void f_pages_sent(const struct job *j, char *o, size_t n) { put_int(o, n, j->pages_sent); }
static void f_size(const struct job *j, char *o, size_t n) { snprintf(o, n, "%" PRIu64, j->size); }
static void f_attempts(const struct job *j, char *o, size_t n) { put_int(o, n, j->attempts); }
static void f_max_attempts(const struct job *j, char *o, size_t n) { put_int(o, n, j->max_attempts); }
static void f_last_error(const struct job *j, char *o, size_t n) { fs_format_last_error(j, o, n); }
static void f_modem(const struct job *j, char *o, size_t n) { put_text(o, n, j->modem); }
static void f_bit_rate(const struct job *j, char *o, size_t n) { put_known(o, n, j->bit_rate); }
static void f_compression(const struct job *j, char *o, size_t n) { put_text(o, n, j->compression); }
static void f_remote_id(const struct job *j, char *o, size_t n) { put_text(o, n, j->remote_id); }
static void f_caller_id(const struct job *j, char *o, size_t n) { put_text(o, n, j->caller_id); }
static void f_transport(const struct job *j, char *o, size_t n) { put_text(o, n, j->transport); }
static void f_line(const struct job *j, char *o, size_t n) { put_text(o, n, j->line); }
static void f_called_number(const struct job *j, char *o, size_t n) { put_text(o, n, j->called_number); }
static void f_route(const struct job *j, char *o, size_t n) { put_text(o, n, j->route); }
static void f_notify(const struct job *j, char *o, size_t n) { put_text(o, n, j->notify); }
static void f_notify_when(const struct job *j, char *o, size_t n)
{
    put_text(o, n, j->notify[0] ? job_notify_when_name(j->notify_when) : "");
}
static void f_notify_attach(const struct job *j, char *o, size_t n)
{
    put_text(o, n, j->notify[0] ? job_notify_attach_name(j->notify_attach) : "");
}

/* One line per delivery: ACTION TARGET STATE ATTEMPTS NEXT_TRY ERROR, tab
 * separated (a target may hold spaces); "-" for an empty value. Empty
 * until the route is chosen. */
static void f_deliveries(const struct job *j, char *o, size_t n)
{
    size_t len = 0;
    o[0] = '\0';
    for (int i = 0; i < j->ndeliveries; i++) {
        const struct job_delivery *d = &j->deliveries[i];
        char next[40] = "-";
        if ((d->state == JD_PENDING || d->state == JD_RETRYING) && d->next_try > 0)
            job_format_time(d->next_try, next, sizeof next);
        int k = snprintf(o + len, n - len, "%s%s\t%s\t%s\t%d\t%s\t%s", i ? "\n" : "", d->action, d->target,
                         job_delivery_state_name(d->state), d->attempts, next, d->error[0] ? d->error : "-");
        if (k < 0 || (size_t)k >= n - len)
            break;
        len += (size_t)k;
    }
}
static void f_submitted_number(const struct job *j, char *o, size_t n) { put_text(o, n, j->submitted_number); }
static void f_dialed_number(const struct job *j, char *o, size_t n) { put_text(o, n, j->dialed_number); }
static void f_node(const struct job *j, char *o, size_t n) { put_text(o, n, j->status == JOB_ACTIVE ? j->node : ""); }
static void f_use_ecm(const struct job *j, char *o, size_t n)
{
    put_text(o, n, j->use_ecm < 0 ? "" : j->use_ecm ? "yes" : "no");
}
static void f_max_bit_rate(const struct job *j, char *o, size_t n) { put_known(o, n, j->max_bit_rate ? j->max_bit_rate : -1); }
static void f_min_bit_rate(const struct job *j, char *o, size_t n) { put_known(o, n, j->min_bit_rate ? j->min_bit_rate : -1); }

/* 0: a job stored before resolutions were recorded, shown as unknown. */
static void f_resolution(const struct job *j, char *o, size_t n)
{
    put_text(o, n, j->resolution ? job_resolution_name(j->resolution) : "");
}

static void f_ecm(const struct job *j, char *o, size_t n)
{
    put_text(o, n, j->ecm < 0 ? "" : j->ecm ? "yes" : "no");
}

static void f_call_duration(const struct job *j, char *o, size_t n)
{
    /* 0 before any call has connected is "unknown", not "0 seconds". */
    put_known(o, n, j->bit_rate < 0 && j->call_duration == 0 ? -1 : j->call_duration);
}

/* The user name when the system knows one, so `cat owner` reads like ls -l. */
static void f_owner(const struct job *j, char *o, size_t n) { fs_user_name(j->owner_uid, o, n); }

/* Which job types show a property: as a key of `info`, as its own file. */
enum { T_SEND = 1u << JOB_SEND, T_RECV = 1u << JOB_RECEIVE, T_BOTH = T_SEND | T_RECV };

struct field {
    const char *name;
    field_fn render;
    unsigned info;  /* types whose info has this key */
    unsigned file;  /* types whose directory has this value file */
};

/* Order is the order of `info` and of the directory listing; the value
 * files are numbered by their position among entries that are a file for
 * any type, so a node means the same property in every directory. */
static const struct field fields[] = {
    { "id", f_id, T_BOTH, 0 },
    { "type", f_type, T_BOTH, 0 },
    { "status", f_status, T_BOTH, T_BOTH },
    { "device_status", f_device_status, T_BOTH, T_BOTH },
    { "recipient_number", f_recipient_number, T_SEND, T_SEND },
    { "submitted_number", f_submitted_number, T_SEND, T_SEND },
    { "dialed_number", f_dialed_number, T_SEND, T_SEND },
    { "recipient_name", f_recipient_name, T_SEND, T_SEND },
    { "sender_name", f_sender_name, T_SEND, T_SEND },
    { "sender_company", f_sender_company, T_SEND, 0 },
    { "sender_department", f_sender_department, T_SEND, 0 },
    { "billing_code", f_billing_code, T_SEND, 0 },
    { "tsid", f_tsid, T_SEND, 0 },
    { "owner", f_owner, T_BOTH, T_SEND },
    { "submitted", f_submitted, T_SEND, T_SEND },
    { "received", f_submitted, T_RECV, T_RECV }, /* a receive job starts when the call is answered */
    { "scheduled", f_scheduled, T_SEND, T_SEND },
    { "kill_time", f_kill_time, T_SEND, T_SEND },
    { "priority", f_priority, T_SEND, T_SEND },
    { "resolution", f_resolution, T_BOTH, T_SEND },
    { "use_ecm", f_use_ecm, T_SEND, 0 },
    { "max_bit_rate", f_max_bit_rate, T_SEND, 0 },
    { "min_bit_rate", f_min_bit_rate, T_SEND, 0 },
    { "page_count", f_page_count, T_BOTH, T_BOTH },
    { "pages_sent", f_pages_sent, T_SEND, T_SEND },
    { "size", f_size, T_BOTH, T_SEND },
    { "attempts", f_attempts, T_SEND, T_SEND },
    { "max_attempts", f_max_attempts, T_SEND, T_SEND },
    { "next_attempt", f_next_attempt, T_SEND, T_SEND },
    { "last_error", f_last_error, T_BOTH, T_BOTH },
    { "modem", f_modem, T_BOTH, T_SEND },
    { "line", f_line, T_SEND, T_SEND },
    { "bit_rate", f_bit_rate, T_BOTH, T_BOTH },
    { "ecm", f_ecm, T_BOTH, T_BOTH },
    { "compression", f_compression, T_BOTH, 0 },
    { "remote_id", f_remote_id, T_BOTH, T_BOTH },
    { "transport", f_transport, T_BOTH, T_BOTH },
    { "caller_id", f_caller_id, T_RECV, T_RECV },
    { "caller_number", f_caller_id, 0, T_RECV }, /* the same, named like called_number */
    { "called_number", f_called_number, T_RECV, T_RECV },
    { "route", f_route, T_RECV, T_RECV },
    { "deliveries", f_deliveries, 0, T_BOTH }, /* several lines: never flattened; send jobs: receipts */
    { "notify", f_notify, T_SEND, 0 },
    { "notify_when", f_notify_when, T_SEND, 0 },
    { "notify_attach", f_notify_attach, T_SEND, 0 },
    { "call_duration", f_call_duration, T_BOTH, 0 },
    { "finished", f_finished, T_BOTH, 0 },
    { "changed", f_changed, T_BOTH, 0 },
    { "group", f_group, T_SEND, T_SEND }, /* broadcast group id; empty for a job alone */
    { "node", f_node, T_SEND, T_SEND }, /* several nodes on one store: the one calling it */
};
#define NFIELDS (sizeof fields / sizeof fields[0])

static const struct field *field_of_node(int node)
{
    int seen = 0;

    for (size_t i = 0; i < NFIELDS; i++)
        if (fields[i].file && ++seen == node)
            return &fields[i];
    return NULL;
}

int fs_job_field_count(void)
{
    int n = 0;

    for (size_t i = 0; i < NFIELDS; i++)
        n += fields[i].file != 0;
    return n;
}

bool fs_job_field_shown(int node, enum job_type type)
{
    const struct field *f = field_of_node(node);

    if (node == NODE_INFO || node == NODE_LOG || node == NODE_CTL || node == NODE_WAIT)
        return true;
    return f && (f->file & (1u << type));
}

const char *fs_job_field_name(int node)
{
    switch (node) {
    case NODE_INFO: return "info";
    case NODE_LOG: return "log";
    case NODE_CTL: return "ctl";
    case NODE_WAIT: return "wait";
    }
    const struct field *f = field_of_node(node);
    return f ? f->name : NULL;
}

int fs_job_node_by_name(const char *name)
{
    static const int extra[] = { NODE_INFO, NODE_LOG, NODE_CTL, NODE_WAIT };
    int count = fs_job_field_count();

    for (int node = 1; node <= count; node++)
        if (strcmp(fs_job_field_name(node), name) == 0)
            return node;
    for (size_t i = 0; i < sizeof extra / sizeof extra[0]; i++)
        if (strcmp(fs_job_field_name(extra[i]), name) == 0)
            return extra[i];
    return 0;
}

void fs_format_last_error(const struct job *job, char *out, size_t outlen)
{
    if (job->error_code[0] == '\0')
        out[0] = '\0';
    else if (job->error_text[0] == '\0')
        snprintf(out, outlen, "%s", job->error_code);
    else
        snprintf(out, outlen, "%s: %s", job->error_code, job->error_text);
}

/* Newlines inside a value would break "one value per line" for readers. */
static void flatten(char *s)
{
    for (; *s; s++)
        if (*s == '\n' || *s == '\r')
            *s = ' ';
}

int fs_render_job_field(const struct job *job, int node, char *out, size_t outlen)
{
    const struct field *f = field_of_node(node);
    char value[FS_RENDER_MAX];

    if (!f || outlen < 2)
        return -ENOENT;
    f->render(job, value, sizeof value);
    if (f->render != f_deliveries)
        flatten(value);
    if (value[0] == '\0') {
        out[0] = '\0';
        return 0;
    }
    int n = snprintf(out, outlen, "%s\n", value);
    if (n >= (int)outlen) { /* keep the newline even when cut short */
        n = (int)outlen - 1;
        out[n - 1] = '\n';
    }
    return n;
}

int fs_render_job_info(const struct job *job, char *out, size_t outlen)
{
    size_t len = 0;

    out[0] = '\0';
    for (size_t i = 0; i < NFIELDS; i++) {
        char value[FS_RENDER_MAX];

        if (!(fields[i].info & (1u << job->type)))
            continue;
        fields[i].render(job, value, sizeof value);
        flatten(value);
        int n = snprintf(out + len, outlen - len, "%s: %s\n", fields[i].name, value);
        if (n < 0 || (size_t)n >= outlen - len)
            break; /* whole lines only */
        len += (size_t)n;
    }
    out[len] = '\0';
    return (int)len;
}

/* A node name as the server file shows it: letters, digits, '.', '-',
 * '_' as they are, anything else as '?'. */
static void node_safe(char *s)
{
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '.' ||
              *s == '-' || *s == '_'))
            *s = '?';
}

int fs_render_server(const struct queue_summary *sum, char *out, size_t outlen)
{
    size_t len = 0;
    int n, total = 0;

    for (int s = 0; s < JOB_STATUS_COUNT; s++)
        total += sum->jobs[s];
    n = snprintf(out, outlen, "queue_paused: %s\nmodems: %d\nmodems_busy: %d\nmodems_idle: %d\njobs: %d\n",
                 sum->paused ? "yes" : "no", sum->modems_busy + sum->modems_idle, sum->modems_busy,
                 sum->modems_idle, total);
    if (n < 0 || (size_t)n >= outlen)
        return -ENOSPC;
    len = (size_t)n;
    for (int s = 0; s < JOB_STATUS_COUNT; s++) {
        n = snprintf(out + len, outlen - len, "%s: %d\n", job_status_name((enum job_status)s), sum->jobs[s]);
        if (n < 0 || (size_t)n >= outlen - len)
            return -ENOSPC;
        len += (size_t)n;
    }
    /* This node's name; with several nodes, the calls in progress on each
     * (names from the store: anything but a name's characters shows as ?). */
    if (sum->node[0] != '\0') {
        char name[JOB_NODE_MAX];
        snprintf(name, sizeof name, "%s", sum->node);
        node_safe(name);
        n = snprintf(out + len, outlen - len, "node: %s\n", name);
        if (n < 0 || (size_t)n >= outlen - len)
            return -ENOSPC;
        len += (size_t)n;
    }
    if (sum->several) {
        n = snprintf(out + len, outlen - len, "calls_by_node:");
        for (int i = 0; i < sum->nnodes && n >= 0 && (size_t)n < outlen - len; i++) {
            char name[JOB_NODE_MAX];
            snprintf(name, sizeof name, "%s", sum->nodes[i].name);
            node_safe(name);
            len += (size_t)n;
            n = snprintf(out + len, outlen - len, " %s=%d", name, sum->nodes[i].calls);
        }
        if (n >= 0 && (size_t)n < outlen - len && sum->calls_elsewhere > 0) {
            len += (size_t)n;
            n = snprintf(out + len, outlen - len, " (more nodes)=%d", sum->calls_elsewhere);
        }
        if (n >= 0 && (size_t)n < outlen - len) {
            len += (size_t)n;
            n = snprintf(out + len, outlen - len, "\n");
        }
        if (n < 0 || (size_t)n >= outlen - len)
            return -ENOSPC;
        len += (size_t)n;
    }
    /* While the stored jobs load (the counts above are of those loaded). */
    if (sum->loading) {
        n = snprintf(out + len, outlen - len, "loading: %zu of %zu\n", sum->jobs_loaded, sum->jobs_to_load);
        if (n < 0 || (size_t)n >= outlen - len)
            return -ENOSPC;
        len += (size_t)n;
    }
    return (int)len;
}

static const char *const modem_files[] = { NULL, "status", "job", "calls", "pages_sent", "errors", "line" };
#define NMODEM_FILES ((int)(sizeof modem_files / sizeof modem_files[0]) - 1)

int fs_modem_file_count(void) { return NMODEM_FILES; }

const char *fs_modem_file_name(int node)
{
    return node >= 1 && node <= NMODEM_FILES ? modem_files[node] : NULL;
}

int fs_modem_node_by_name(const char *name)
{
    for (int node = 1; node <= NMODEM_FILES; node++)
        if (strcmp(modem_files[node], name) == 0)
            return node;
    return 0;
}

int fs_render_modem_file(const struct queue_modem_info *m, int node, char *out, size_t outlen)
{
    int n;

    switch (node) {
    case 1: n = snprintf(out, outlen, "%s\n", m->status[0] ? m->status : "idle"); break;
    case 2: /* the job on the line, or an empty file when idle */
        if (m->job == 0) {
            out[0] = '\0';
            return 0;
        }
        n = snprintf(out, outlen, "%" PRIu64 "\n", m->job);
        break;
    case 3: n = snprintf(out, outlen, "%" PRIu64 "\n", m->calls); break;
    case 4: n = snprintf(out, outlen, "%" PRIu64 "\n", m->pages_sent); break;
    case 5: n = snprintf(out, outlen, "%" PRIu64 "\n", m->errors); break;
    case 6: n = snprintf(out, outlen, "%s\n", m->line); break;
    default: return -ENOENT;
    }
    if (n < 0 || (size_t)n >= outlen)
        return -ENOSPC;
    return n;
}

static const char *const line_files[] = { NULL, "spec", "channels", "busy", "free", "registration", "usable",
                                          "calls", "failures", "pages_sent", "last_error" };
#define NLINE_FILES ((int)(sizeof line_files / sizeof line_files[0]) - 1)

int fs_line_file_count(void) { return NLINE_FILES; }

const char *fs_line_file_name(int node)
{
    return node >= 1 && node <= NLINE_FILES ? line_files[node] : NULL;
}

int fs_line_node_by_name(const char *name)
{
    for (int node = 1; node <= NLINE_FILES; node++)
        if (strcmp(line_files[node], name) == 0)
            return node;
    return 0;
}

int fs_render_line_file(const struct queue_line_info *l, int node, char *out, size_t outlen)
{
    int n;

    switch (node) {
    case 1: n = snprintf(out, outlen, "%s\n", l->spec); break;
    case 2: n = snprintf(out, outlen, "%d\n", l->channels); break;
    case 3: n = snprintf(out, outlen, "%d\n", l->busy); break;
    case 4: n = snprintf(out, outlen, "%d\n", l->free); break;
    case 5: n = snprintf(out, outlen, "%s\n", l->registration[0] ? l->registration : "none"); break;
    case 6: n = snprintf(out, outlen, "%s\n", l->usable ? "yes" : "no"); break;
    case 7: n = snprintf(out, outlen, "%" PRIu64 "\n", l->calls); break;
    case 8: n = snprintf(out, outlen, "%" PRIu64 "\n", l->failures); break;
    case 9: n = snprintf(out, outlen, "%" PRIu64 "\n", l->pages_sent); break;
    case 10: /* empty until a call on the line fails */
        if (!l->last_error[0]) {
            out[0] = '\0';
            return 0;
        }
        n = snprintf(out, outlen, "%s\n", l->last_error);
        break;
    default: return -ENOENT;
    }
    if (n < 0 || (size_t)n >= outlen)
        return -ENOSPC;
    return n;
}
