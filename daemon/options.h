/*
 * options.h - the daemon's command line: every option, its default, and
 * the --help text that documents them.
 */
#ifndef FAXFS_OPTIONS_H
#define FAXFS_OPTIONS_H

#include <stdbool.h>
#include <stdio.h>

#include "queue/route.h"

#define OPTIONS_MAX_LINES 32
#define OPTIONS_MAX_ROUTES 64

/* One named line (--line NAME=SPEC, --line-KEY NAME=VALUE, [line NAME]). */
struct daemon_line {
    char name[LINE_NAME_MAX];
    const char *spec;       /* NULL until given */
    int channels;           /* 0: unset (the default line: --modems; others: 1) */
    const char *tsid, *header, *caller_id;
    const char *user, *password, *local, *codecs;
    int t38;                /* -1 unset, 0 off, 1 on */
    const char *registrar, *auth_user, *outbound_proxy;
    int expires, keepalive; /* seconds; 0: unset */
    int origin;             /* argv index of the first word naming the line */
    int spec_origin;        /* argv index of its spec; 0 for the implicit default line */
};
#include "queue/receive_route.h"

struct daemon_options {
    const char *mountpoint;
    const char *check_spool;  /* --check-spool DIR: check and exit */
    /* The store (docs/postgresql.md): NULL or "file" for the spool, else
     * a PostgreSQL connection string; node names this server on it. */
    const char *store;        /* --store */
    const char *node;         /* --node; NULL: the host name */
    int store_lease;          /* --store-lease SECONDS; 0: the default (180) */
    bool store_migrate;       /* --store-migrate: migrate --store and exit */
    const char *copy_from;    /* --copy-store FROM TO: copy and exit */
    const char *copy_to;
    char spool_dir[4096];
    const char *line_spec;    /* "sim", "exec:COMMAND" or "sip:HOST[:PORT]" */
    const char *sim_pace;     /* "fast" or "realtime" */
    int modems;
    int retry_delay;          /* 0 = per-class defaults */
    int max_attempts;
    int history_days;
    int per_destination;      /* concurrent calls per number */
    int batch_max;            /* documents per call to one number; 1: no batching */
    int sim_setup_time;       /* simulated network: seconds from dial to answer; 0: default */
    int dsp_priority;         /* SCHED_RR priority of the DSP workers; 0: normal scheduling */
    const char *tsid;
    const char *admin_group;  /* NULL = root only */
    const char *priority_group; /* --priority-group; NULL: anyone may raise priority */
    int max_drafts_per_user;  /* per-user limits of the outbox (0 = none) */
    int max_outbox_mb_per_user;
    int max_jobs_per_user;
    int max_recipients;       /* --max-recipients: numbers in one broadcast */
    int max_open_files_per_user;
    int draft_expire_days;
    const char *station_number; /* our own number on the simulated network */
    const char *listen_spec;  /* inbound listener, e.g. audiosocket:127.0.0.1:9092 */
    const char *listen_more[2]; /* a second listener (--listen again), NULL-terminated */
    const char *sip_user;     /* --sip-user; NULL: "faxfs" */
    const char *sip_password; /* --sip-password */
    const char *sip_local;    /* --sip-local ADDR[:PORT] */
    const char *sip_codecs;   /* --sip-codecs */
    bool sip_no_t38;          /* --sip-t38 off */
    const char *receive_owner;/* USER[:GROUP] owning received faxes; NULL = root */
    /* Remote callers (docs/security.md, "Remote callers"). */
    const char *sip_allow;    /* --sip-allow; NULL: any */
    int sip_calls_per_source; /* --sip-calls-per-source */
    const char *sip_inbound_user;     /* --sip-inbound-user; NULL: no digest asked */
    const char *sip_inbound_password; /* --sip-inbound-password */
    /* Registration of the SIP line (docs/sip.md). */
    const char *sip_registrar;        /* --sip-registrar sip:HOST[:PORT]; NULL: none */
    const char *sip_auth_user;        /* --sip-auth-user; NULL: --sip-user */
    int sip_expires;                  /* --sip-expires, seconds; 0: 3600 */
    const char *sip_outbound_proxy;   /* --sip-outbound-proxy sip:HOST[:PORT] */
    int sip_keepalive;                /* --sip-keepalive, seconds; 0: none */
    const char *audiosocket_allow;    /* --audiosocket-allow; NULL: loopback */
    int inbound_calls;        /* --inbound-calls: inbound slots */
    int receive_max_pages;    /* --receive-max-pages */
    int receive_max_duration; /* --receive-max-duration, seconds */
    int receive_max_mib;      /* --receive-max-mib */
    int received_days;        /* --received-days; 0: until deleted */
    int received_empty_hours; /* --received-empty-hours */
    const char *notify_cmd;   /* --notify-cmd: hook run on final states */
    bool notify_retry;        /* --notify-retry: also on each retry */
    const char *notify_mail;  /* --notify-mail[=POLICY]: none, failures, all */
    const char *convert_user; /* --convert-user; NULL: faxfs-convert, else nobody */
    int convert_sandboxes;    /* --convert-sandboxes; -1: the default (sandbox_pool_limits) */
    const char *sendmail;     /* --sendmail; NULL: /usr/sbin/sendmail */
    const char *sendmail_user; /* --sendmail-user; NULL: the daemon's user */
    /* Lines in configuration order, and routes over them (docs/lines.md).
     * After a successful parse every line has a spec and channels, and
     * routes[] are resolved against lines[]. */
    struct daemon_line lines[OPTIONS_MAX_LINES];
    int nlines;
    const char *route_text[OPTIONS_MAX_ROUTES];
    int route_origin[OPTIONS_MAX_ROUTES];
    struct route routes[OPTIONS_MAX_ROUTES];
    int nroutes;
    bool from_file;           /* while parsing: the word came from the configuration file */
    /* Inbound routing and deliveries (docs/receiving.md). */
    char station_numbers[256];  /* --station-number, each given, comma-separated */
    bool station_number_given;
    const char *audiosocket_number; /* --audiosocket-number: the number the AudioSocket listener serves */
    struct receive_routes *receive_routes; /* [receive NAME] / --receive-KEY NAME=VALUE; NULL: none */
    const char *print_command;      /* --print-command; NULL: "lp -d" */
    struct delivery_policy delivery; /* --delivery-retry, --delivery-give-up-hours */
    /* Receipts: [receipt USER] notify / notify-when, the user's default
     * (docs/receipts.md); names resolved to uids at start. */
    struct {
        char user[33];
        char notify[256];
        int when;
    } receipt_users[64];
    int nreceipt_users;
    struct dialplan *dialplan; /* dial rules, [destination] sections, modem settings
                                  (queue/dialplan.h); NULL: none given */
    bool foreground;
    bool debug;
    char mount_opts[1024];    /* -o options joined with commas */
    char *owned[16];          /* copies of -o lists that settings point into */
    int nowned;
};

enum options_result { OPTIONS_RUN, OPTIONS_EXIT_OK, OPTIONS_EXIT_USAGE };

/* Parses argv into opt. On OPTIONS_EXIT_* the caller exits with 0 or 2;
 * --help and --version print to stdout, errors to stderr. */
enum options_result options_parse(int argc, char **argv, struct daemon_options *opt);
/* The same, where origins[i] (when not NULL) names the FILE:LINE argv[i]
 * came from: a refused setting says where to fix it. */
enum options_result options_parse_from(int argc, char **argv, const char *const *origins,
                                       struct daemon_options *opt);

/* For the configuration file: -1 not a setting, 0 a switch, 1 takes a
 * value. Actions (--help, --version, --check-spool, --config) are not
 * settings. */
int options_kind(const char *name);
/* The configuration file argv names (--config FILE), else the default
 * /etc/faxfs.conf; *required tells whether it must exist. */
const char *options_config_path(int argc, char **argv, int *required);
void options_print_help(FILE *out, const char *prog);
/* A line's spec as people may see it: the userinfo (user:password@) of a
 * sip: spec removed. */
void options_spec_shown(const char *spec, char *out, size_t outlen);
/* Frees what options_parse allocated (the settings' strings go with it). */
void options_free(struct daemon_options *opt);

#endif
