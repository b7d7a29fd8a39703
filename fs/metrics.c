/*
 * metrics.c - renders struct queue_metrics as Prometheus text exposition
 * (format 0.0.4): each family is a `# HELP` line, a `# TYPE` line, then its
 * samples. Every label value a family can take is always present (zero
 * included), so a rate() never starts from a missing series.
 */
#include "fs/metrics.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct out {
    char *buf;
    size_t len, cap;
    bool full;
};

static void put(struct out *o, const char *fmt, ...)
{
    va_list ap;

    if (o->full)
        return;
    va_start(ap, fmt);
    int n = vsnprintf(o->buf + o->len, o->cap - o->len, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= o->cap - o->len) {
        o->full = true;
        return;
    }
    o->len += (size_t)n;
}

/* The shortest text that reads back as the same double, as Go's
 * ParseFloat (the format's reference) expects: "15", "0.25", "+Inf". */
static void format_double(double v, char *out, size_t outlen)
{
    if (isnan(v)) {
        snprintf(out, outlen, "NaN");
        return;
    }
    if (isinf(v)) {
        snprintf(out, outlen, "%s", v > 0 ? "+Inf" : "-Inf");
        return;
    }
    for (int digits = 15; digits <= 17; digits++) {
        snprintf(out, outlen, "%.*g", digits, v);
        if (strtod(out, NULL) == v)
            return;
    }
}

static void family(struct out *o, const char *name, const char *type, const char *help)
{
    put(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void labelled(struct out *o, const char *name, const char *label, const char *value, uint64_t n)
{
    put(o, "%s{%s=\"%s\"} %" PRIu64 "\n", name, label, value, n);
}

static void outcomes(struct out *o, const char *name, const char *help, const uint64_t *by_failure)
{
    family(o, name, "counter", help);
    for (int f = 0; f < QF_COUNT; f++)
        labelled(o, name, "outcome", queue_failure_name((enum queue_failure)f), by_failure[f]);
}

static void plain(struct out *o, const char *name, const char *type, const char *help, uint64_t n)
{
    family(o, name, type, help);
    put(o, "%s %" PRIu64 "\n", name, n);
}

/* Buckets whose bound does not grow past the previous one are unused
 * slots of the fixed-size array: the format wants strictly ascending le. */
static void histogram(struct out *o, const char *name, const char *help, const struct queue_histogram *h)
{
    char num[40];
    double last = -INFINITY;

    family(o, name, "histogram", help);
    for (int i = 0; i < QUEUE_HIST_BUCKETS; i++) {
        if (!(h->bounds[i] > last) || isinf(h->bounds[i]))
            continue;
        last = h->bounds[i];
        format_double(h->bounds[i], num, sizeof num);
        put(o, "%s_bucket{le=\"%s\"} %" PRIu64 "\n", name, num, h->counts[i]);
    }
    put(o, "%s_bucket{le=\"+Inf\"} %" PRIu64 "\n", name, h->count);
    format_double(h->sum, num, sizeof num);
    put(o, "%s_sum %s\n%s_count %" PRIu64 "\n", name, num, name, h->count);
}

/* Every action and outcome, zero included; an action the queue counted
 * that is not one of the four (a newer daemon's) is shown too. */
static void deliveries(struct out *o, const struct queue_delivery_counter *c)
{
    static const char *const actions[] = { "folder", "print", "command", "mail" };
    static const char *const outcomes_of[QDO_COUNT] = { [QDO_DONE] = "done", [QDO_RETRY] = "retry",
                                                        [QDO_FAILED] = "failed" };
    const char *name = "faxfs_deliveries_total";
    bool shown[QUEUE_DELIVERY_ACTIONS] = { false };

    family(o, name, "counter", "Tries to deliver received faxes, by action and outcome.");
    for (size_t a = 0; a < sizeof actions / sizeof actions[0]; a++) {
        const struct queue_delivery_counter *hit = NULL;
        for (int i = 0; i < QUEUE_DELIVERY_ACTIONS; i++)
            if (strcmp(c[i].action, actions[a]) == 0) {
                hit = &c[i];
                shown[i] = true;
            }
        for (int k = 0; k < QDO_COUNT; k++)
            put(o, "%s{action=\"%s\",outcome=\"%s\"} %" PRIu64 "\n", name, actions[a], outcomes_of[k],
                hit ? hit->outcome[k] : 0);
    }
    for (int i = 0; i < QUEUE_DELIVERY_ACTIONS; i++)
        if (c[i].action[0] && !shown[i])
            for (int k = 0; k < QDO_COUNT; k++)
                put(o, "%s{action=\"%s\",outcome=\"%s\"} %" PRIu64 "\n", name, c[i].action, outcomes_of[k],
                    c[i].outcome[k]);
}

/* A label value: backslash, double quote and newline escaped. */
static void label_value(struct out *o, const char *v)
{
    for (; *v; v++) {
        if (*v == '\\' || *v == '"')
            put(o, "\\%c", *v);
        else if (*v == '\n')
            put(o, "\\n");
        else
            put(o, "%c", *v);
    }
}

/* This node's name; with several nodes, the calls in progress on each. */
static void nodes(struct out *o, const struct queue_summary *s)
{
    if (s->node[0] != '\0') {
        family(o, "faxfs_node_info", "gauge", "This server's node name (always 1).");
        put(o, "faxfs_node_info{node=\"");
        label_value(o, s->node);
        put(o, "\"} 1\n");
    }
    if (!s->several)
        return;
    family(o, "faxfs_calls_active", "gauge", "Outbound calls in progress by the node making them (several nodes on one store).");
    for (int i = 0; i < s->nnodes; i++) {
        put(o, "faxfs_calls_active{node=\"");
        label_value(o, s->nodes[i].name);
        put(o, "\"} %d\n", s->nodes[i].calls);
    }
    if (s->calls_elsewhere > 0)
        put(o, "faxfs_calls_active{node=\"\"} %d\n", s->calls_elsewhere);
}

int fs_render_metrics(const struct queue_metrics *m, char *out, size_t outlen)
{
    struct out o = { out, 0, outlen, outlen == 0 };
    const struct queue_summary *s = &m->summary;
    char num[40];

    family(&o, "faxfs_jobs", "gauge", "Jobs in the queue by state.");
    for (int st = 0; st < JOB_STATUS_COUNT; st++)
        labelled(&o, "faxfs_jobs", "state", job_status_name((enum job_status)st), (uint64_t)s->jobs[st]);
    plain(&o, "faxfs_queue_paused", "gauge", "1 while the whole queue is paused (no dialing).", s->paused ? 1 : 0);
    nodes(&o, s);
    outcomes(&o, "faxfs_calls_total", "Finished outbound calls by outcome.", m->calls);
    outcomes(&o, "faxfs_receptions_total", "Finished inbound calls by outcome.", m->receptions);
    plain(&o, "faxfs_pages_sent_total", "counter", "Pages confirmed by the remote.", m->pages_sent);
    plain(&o, "faxfs_pages_received_total", "counter", "Pages received complete.", m->pages_received);
    family(&o, "faxfs_submissions_total", "counter", "Submissions by result.");
    labelled(&o, "faxfs_submissions_total", "result", "accepted", m->submissions);
    labelled(&o, "faxfs_submissions_total", "result", "refused", m->submissions_refused);
    family(&o, "faxfs_modems", "gauge", "Modem channels by state.");
    labelled(&o, "faxfs_modems", "state", "busy", (uint64_t)s->modems_busy);
    labelled(&o, "faxfs_modems", "state", "idle", (uint64_t)s->modems_idle);
    family(&o, "faxfs_modem_busy_seconds_total", "counter", "Seconds modem channels spent on calls, summed.");
    format_double(m->modem_busy_seconds, num, sizeof num);
    put(&o, "faxfs_modem_busy_seconds_total %s\n", num);
    deliveries(&o, m->deliveries);
    histogram(&o, "faxfs_call_duration_seconds", "Duration of finished calls.", &m->call_seconds);
    histogram(&o, "faxfs_page_duration_seconds", "Time to send or receive one page.", &m->page_seconds);
    if (o.full) {
        if (outlen)
            out[0] = '\0';
        return -ENOSPC;
    }
    return (int)o.len;
}
