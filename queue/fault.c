/*
 * fault.c - the fault-injection switchboard: parses FAXFS_FAULT once
 * ("point:action[:N[+]]", comma separated), counts hits of named points
 * and decides at each hit whether to go on, fail with an errno, or die by
 * SIGKILL exactly there (a kill -9 at a chosen instruction). Test builds only.
 */
#ifdef FAXFS_FAULT_INJECTION

#include "queue/fault.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FAULT_MAX_RULES 8
#define FAULT_MAX_POINTS 64
#define FAULT_NAME_MAX 64

enum fault_action { FA_KILL, FA_ENOSPC, FA_EIO };

struct fault_rule {
    char point[FAULT_NAME_MAX];
    enum fault_action action;
    unsigned long nth;  /* 1-based hit that triggers */
    bool and_after;     /* also every later hit */
};

struct fault_counter {
    char point[FAULT_NAME_MAX];
    unsigned long hits;
};

/* lock protects everything below; hits come from any thread. */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static bool loaded;
static struct fault_rule rules[FAULT_MAX_RULES];
static int nrules;
static struct fault_counter counters[FAULT_MAX_POINTS];
static int ncounters;

static const struct {
    const char *name;
    enum fault_action action;
} actions[] = {{"kill", FA_KILL}, {"enospc", FA_ENOSPC}, {"eio", FA_EIO}};

/* One "point:action[:N[+]]" item into r. */
static int parse_rule(char *item, struct fault_rule *r)
{
    char *point = strtok(item, ":"), *action = strtok(NULL, ":"), *count = strtok(NULL, ":");
    size_t i;

    if (point == NULL || action == NULL || strtok(NULL, ":") != NULL || strlen(point) >= FAULT_NAME_MAX)
        return -EINVAL;
    for (i = 0; i < sizeof actions / sizeof actions[0]; i++)
        if (strcmp(action, actions[i].name) == 0)
            break;
    if (i == sizeof actions / sizeof actions[0])
        return -EINVAL;
    snprintf(r->point, sizeof r->point, "%s", point);
    r->action = actions[i].action;
    /* Without a count a kill fires at the first hit and an error at every hit. */
    r->nth = 1;
    r->and_after = r->action != FA_KILL;
    if (count != NULL) {
        char *end;
        r->nth = strtoul(count, &end, 10);
        r->and_after = *end == '+';
        if (r->nth == 0 || end == count || (*end != '\0' && strcmp(end, "+") != 0))
            return -EINVAL;
    }
    return 0;
}

static int load_locked(const char *spec)
{
    struct fault_rule parsed[FAULT_MAX_RULES];
    int n = 0;

    loaded = true;
    nrules = 0;
    ncounters = 0;
    if (spec == NULL || spec[0] == '\0')
        return 0;
    char *copy = strdup(spec), *save = NULL;
    if (copy == NULL)
        return -ENOMEM;
    for (char *item = strtok_r(copy, ",", &save); item != NULL; item = strtok_r(NULL, ",", &save)) {
        if (n == FAULT_MAX_RULES || parse_rule(item, &parsed[n]) != 0) {
            fprintf(stderr, "faxfs: FAXFS_FAULT: cannot use \"%s\"; write point:kill|enospc|eio[:N[+]]\n", spec);
            free(copy);
            return -EINVAL;
        }
        n++;
    }
    free(copy);
    memcpy(rules, parsed, (size_t)n * sizeof *rules);
    nrules = n;
    return 0;
}

int fault_configure(const char *spec)
{
    pthread_mutex_lock(&lock);
    int r = load_locked(spec);
    pthread_mutex_unlock(&lock);
    return r;
}

static struct fault_counter *counter_locked(const char *point)
{
    for (int i = 0; i < ncounters; i++)
        if (strcmp(counters[i].point, point) == 0)
            return &counters[i];
    if (ncounters == FAULT_MAX_POINTS)
        return NULL;
    struct fault_counter *c = &counters[ncounters++];
    snprintf(c->point, sizeof c->point, "%s", point);
    c->hits = 0;
    return c;
}

int fault_hit(const char *point)
{
    int r = 0;

    pthread_mutex_lock(&lock);
    if (!loaded)
        load_locked(getenv("FAXFS_FAULT"));
    struct fault_counter *c = counter_locked(point);
    unsigned long hit = c != NULL ? ++c->hits : 0;
    for (int i = 0; i < nrules && r == 0; i++) {
        const struct fault_rule *f = &rules[i];
        if (strcmp(f->point, point) != 0 || hit < f->nth || (hit > f->nth && !f->and_after))
            continue;
        if (f->action == FA_KILL) {
            fprintf(stderr, "faxfs: fault injection: kill at %s (hit %lu)\n", point, hit);
            raise(SIGKILL);
        }
        r = f->action == FA_ENOSPC ? -ENOSPC : -EIO;
    }
    pthread_mutex_unlock(&lock);
    return r;
}

unsigned long fault_hits(const char *point)
{
    unsigned long n = 0;

    pthread_mutex_lock(&lock);
    for (int i = 0; i < ncounters; i++)
        if (strcmp(counters[i].point, point) == 0)
            n = counters[i].hits;
    pthread_mutex_unlock(&lock);
    return n;
}

#else

/* ISO C forbids an empty translation unit. */
typedef int fault_injection_disabled;

#endif
