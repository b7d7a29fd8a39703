/*
 * dialplan.h - dial rules (docs/dialing.md): numbers as people type them
 * made canonical (E.164 when a country is configured), formatted for a
 * line, refused by rules at submission, and the controls that apply to a
 * destination (HylaFAX DestControls) and the modem settings of a call.
 * Pure functions over an immutable plan built from the daemon's options;
 * the only I/O is reading a --dial-deny-file.
 */
#ifndef FAXFS_QUEUE_DIALPLAN_H
#define FAXFS_QUEUE_DIALPLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct dialplan;

/* The settings a plan is made of, one per daemon option (the option is
 * "--" + dialplan_option_name()). Values of the per-name ones are
 * NAME=VALUE: a line name, or a number pattern for destinations. */
enum dialplan_option {
    DPO_COUNTRY,              /* dial-country 44 */
    DPO_AREA,                 /* dial-area 20 */
    DPO_INTERNATIONAL_PREFIX, /* dial-international-prefix 00 */
    DPO_NATIONAL_PREFIX,      /* dial-national-prefix 0 */
    DPO_STRIP_PREFIX,         /* dial-strip-prefix 9 */
    DPO_DENY,                 /* dial-deny PATTERN (repeatable) */
    DPO_DENY_FILE,            /* dial-deny-file FILE */
    DPO_ALLOW,                /* dial-allow PATTERN (lifts a built-in refusal) */
    DPO_LINE_DIAL_PREFIX,     /* line-dial-prefix NAME=9 */
    DPO_LINE_NUMBER_FORMAT,   /* line-number-format NAME=e164|international|national|local */
    DPO_DEST_MAX_CALLS,       /* destination-max-calls PATTERN=N */
    DPO_DEST_ECM,             /* destination-ecm PATTERN=yes|no */
    DPO_DEST_MAX_BIT_RATE,    /* destination-max-bit-rate PATTERN=N */
    DPO_DEST_MIN_BIT_RATE,    /* destination-min-bit-rate PATTERN=N */
    DPO_DEST_T38,             /* destination-t38 PATTERN=yes|no */
    DPO_DEST_MAX_PAGES,       /* destination-max-pages PATTERN=N */
    DPO_DEST_WINDOW,          /* destination-window PATTERN=Mon-Fri 08:00-18:00 */
    DPO_DEST_REFUSE,          /* destination-refuse PATTERN=MESSAGE */
    DPO_ECM,                  /* ecm yes|no */
    DPO_MAX_BIT_RATE,         /* max-bit-rate N */
    DPO_MIN_BIT_RATE,         /* min-bit-rate N */
    DPO_DEST_BATCH,           /* destination-batch PATTERN=yes|no */
    DPO_COUNT
};
const char *dialplan_option_name(enum dialplan_option o);

struct dialplan *dialplan_new(void);
void dialplan_free(struct dialplan *dp);
/* Applies one setting; 0, or -EINVAL / -ENOMEM / the file's -errno with a
 * sentence in why (the plan is unchanged then). */
int dialplan_set(struct dialplan *dp, enum dialplan_option o, const char *value, char *why, size_t whylen);
/* The text of a deny file: one pattern per line, '#' comments, blank
 * lines. source names it in refusals ("FILE"). Bounded: at most
 * DIALPLAN_MAX_RULES rules in all. */
#define DIALPLAN_MAX_RULES 10000
#define DIALPLAN_MAX_DENY_FILE (1u << 20)
int dialplan_add_deny_text(struct dialplan *dp, const char *text, size_t len, const char *source, char *why,
                           size_t whylen);

/* ---- numbers --------------------------------------------------------- */

/* The canonical number of what a user typed. Without a plan (dp NULL)
 * or without a country it is job_normalize_number() after the outside
 * line prefix is stripped; with a country it is E.164 (+CC...).
 * 0, or -EINVAL with a sentence. */
int dialplan_canonical(const struct dialplan *dp, const char *typed, char *out, size_t outlen, char *why,
                       size_t whylen);

/* Whether a number may be dialed: explicit --dial-deny rules, then the
 * built-in refusals (emergency numbers, premium rates of the configured
 * country) unless a --dial-allow pattern matches. 0, or -EACCES with the
 * rule that refused it in rule (e.g. "--dial-deny +1900*",
 * "deny.txt:12: 0909*", "built-in emergency number 999"). */
int dialplan_check(const struct dialplan *dp, const char *typed, const char *canonical, char *rule, size_t rulelen);

enum dialplan_format { DPF_E164, DPF_INTERNATIONAL, DPF_NATIONAL, DPF_LOCAL };
/* The number to dial on line NAME: the canonical number in the line's
 * number-format, behind its dial-prefix. Without a plan, a country or
 * settings for the line, the canonical number itself. 0 or -ENOSPC. */
int dialplan_format_for_line(const struct dialplan *dp, const char *line, const char *canonical, char *out,
                             size_t outlen);

/* ---- destinations and modem settings ------------------------------- */

/* A sending window: up to 8 ranges, each on some weekdays, local time. */
#define DIALPLAN_MAX_RANGES 8
struct dialplan_window {
    int nranges;
    struct {
        unsigned days; /* bit 0 Sunday .. bit 6 Saturday */
        int start, end; /* minutes after midnight; end <= start crosses midnight */
    } r[DIALPLAN_MAX_RANGES];
};
/* "Mon-Fri 08:00-18:00, Sat 09:00-12:00", "22:00-06:00" (every day),
 * "Sun,Wed 10:00-11:00". 0 or -EINVAL with a sentence. */
int dialplan_parse_window(const char *text, struct dialplan_window *w, char *why, size_t whylen);
/* now itself when the window is open at now, else the next time it opens
 * (local time, DST-safe). A window that never opens gives now. */
int64_t dialplan_window_next_open(const struct dialplan_window *w, int64_t now);

/* What governs calls to one number: the first matching [destination]
 * section merged over the job's and the global settings. -1 / 0: unset. */
struct dialplan_controls {
    const char *pattern;      /* the section that matched; NULL: none */
    int max_calls;            /* concurrent calls; -1: the global limit */
    int max_pages;            /* 0: no limit */
    const struct dialplan_window *window; /* NULL: any time */
    const char *refuse;       /* non-NULL: refuse with this message */
    int t38;                  /* -1 as the line does, 0 never */
    int batch;                /* -1 as the global batch limit, 0 never batched, 1 batched */
};
void dialplan_controls(const struct dialplan *dp, const char *canonical, struct dialplan_controls *out);

/* Modem settings of a call: ecm -1 (default: on) / 0 / 1; bit rates 0
 * unset or 2400..14400. */
struct dialplan_modem {
    int ecm;
    int max_bit_rate;
    int min_bit_rate;
    int t38; /* -1 as the line does, 0 never */
};
/* Precedence: destination > job > global. */
void dialplan_modem_settings(const struct dialplan *dp, const char *canonical, int job_ecm, int job_max_bit_rate,
                             int job_min_bit_rate, struct dialplan_modem *out);
/* 2400, 4800, 7200, 9600, 12000 or 14400. */
bool dialplan_bit_rate_valid(int rate);
/* Whether any setting was given (a plan with nothing in it acts as none). */
bool dialplan_is_empty(const struct dialplan *dp);

#endif
