/*
 * options.c - parses the daemon's command line and owns the --help text.
 * Defaults live here and only here; the spool directory default depends on
 * who runs the daemon (root: /var/spool/faxfs, others: XDG state dir).
 */
#include "daemon/options.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "modem/admission.h"
#include "modem/modem.h"
#include "queue/backend_pg.h"
#include "queue/dialplan.h"
#include "queue/queue.h"
#include "queue/receive_route.h"

enum {
    OPT_LINE = 256,
    OPT_MODEMS,
    OPT_RETRY_DELAY,
    OPT_MAX_ATTEMPTS,
    OPT_HISTORY_DAYS,
    OPT_SIM_PACE,
    OPT_PER_DESTINATION,
    OPT_TSID,
    OPT_ADMIN_GROUP,
    OPT_PRIORITY_GROUP,
    OPT_VERSION,
    OPT_CHECK_SPOOL,
    /* The store: file spool or PostgreSQL. */
    OPT_STORE,
    OPT_NODE,
    OPT_STORE_LEASE,
    OPT_STORE_MIGRATE,
    OPT_COPY_STORE,
    OPT_STATION_NUMBER,
    OPT_LISTEN,
    OPT_RECEIVE_OWNER,
    OPT_SIP_USER,
    OPT_SIP_PASSWORD,
    OPT_SIP_LOCAL,
    OPT_SIP_CODECS,
    OPT_SIP_T38,
    OPT_CONFIG,
    OPT_NOTIFY_CMD,
    OPT_NOTIFY_RETRY,
    OPT_NOTIFY_MAIL,
    OPT_CONVERT_USER,
    OPT_CONVERT_SANDBOXES,
    OPT_MAX_DRAFTS_PER_USER,
    OPT_MAX_OUTBOX_MB_PER_USER,
    OPT_MAX_JOBS_PER_USER,
    OPT_MAX_RECIPIENTS,
    OPT_MAX_OPEN_FILES_PER_USER,
    OPT_DRAFT_EXPIRE_DAYS,
    /* Remote callers: who may call, how many at once, how much per fax. */
    OPT_SIP_ALLOW,
    OPT_SIP_CALLS_PER_SOURCE,
    OPT_SIP_INBOUND_USER,
    OPT_SIP_INBOUND_PASSWORD,
    OPT_AUDIOSOCKET_ALLOW,
    OPT_INBOUND_CALLS,
    OPT_RECEIVE_MAX_PAGES,
    OPT_RECEIVE_MAX_DURATION,
    OPT_RECEIVED_DAYS,
    OPT_RECEIVED_EMPTY_HOURS,
    OPT_RECEIVE_MAX_BYTES,
    /* Mail: which sendmail, as whom. */
    OPT_SENDMAIL,
    OPT_SENDMAIL_USER,
    /* Named lines ([line NAME] sections) and outbound routes. */
    OPT_ROUTE,
    OPT_LINE_SPEC,
    OPT_LINE_CHANNELS,
    OPT_LINE_TSID,
    OPT_LINE_HEADER,
    OPT_LINE_CALLER_ID,
    OPT_LINE_USER,
    OPT_LINE_PASSWORD,
    OPT_LINE_LOCAL,
    OPT_LINE_CODECS,
    OPT_LINE_T38,
    OPT_LINE_REGISTRAR,
    OPT_LINE_AUTH_USER,
    OPT_LINE_EXPIRES,
    OPT_LINE_OUTBOUND_PROXY,
    OPT_LINE_KEEPALIVE,
    /* Registration of the SIP line. */
    OPT_SIP_REGISTRAR,
    OPT_SIP_AUTH_USER,
    OPT_SIP_EXPIRES,
    OPT_SIP_OUTBOUND_PROXY,
    OPT_SIP_KEEPALIVE,
    /* Inbound routing and deliveries (docs/receiving.md). */
    OPT_AUDIOSOCKET_NUMBER,
    OPT_PRINT_COMMAND,
    OPT_DELIVERY_RETRY,
    OPT_RECEIPT_NOTIFY,
    OPT_RECEIPT_NOTIFY_WHEN,
    OPT_DELIVERY_GIVE_UP_HOURS,
    /* Several jobs to one number in one call; the simulated network's set-up time. */
    OPT_BATCH_MAX,
    OPT_SIM_SETUP_TIME,
    OPT_DSP_PRIORITY,
    OPT_RECEIVE_ROUTE, /* OPT_RECEIVE_ROUTE + i: --receive-KEY, KEY = receive_route_keys[i] */
    /* Dial rules, destinations, modem settings: OPT_DIALPLAN + enum dialplan_option. */
    OPT_DIALPLAN = 1000,
};
_Static_assert(OPT_RECEIVE_ROUTE + 12 < OPT_DIALPLAN, "the --receive-KEY options and the dial plan's overlap");

static const struct option long_options[] = {
    {"spool", required_argument, NULL, 's'},
    {"line", required_argument, NULL, OPT_LINE},
    {"modems", required_argument, NULL, OPT_MODEMS},
    {"retry-delay", required_argument, NULL, OPT_RETRY_DELAY},
    {"max-attempts", required_argument, NULL, OPT_MAX_ATTEMPTS},
    {"history-days", required_argument, NULL, OPT_HISTORY_DAYS},
    {"sim-pace", required_argument, NULL, OPT_SIM_PACE},
    {"per-destination", required_argument, NULL, OPT_PER_DESTINATION},
    {"tsid", required_argument, NULL, OPT_TSID},
    {"admin-group", required_argument, NULL, OPT_ADMIN_GROUP},
    {"priority-group", required_argument, NULL, OPT_PRIORITY_GROUP},
    {"foreground", no_argument, NULL, 'f'},
    {"debug", no_argument, NULL, 'd'},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, OPT_VERSION},
    {"check-spool", required_argument, NULL, OPT_CHECK_SPOOL},
    {"store", required_argument, NULL, OPT_STORE},
    {"node", required_argument, NULL, OPT_NODE},
    {"store-lease", required_argument, NULL, OPT_STORE_LEASE},
    {"store-migrate", no_argument, NULL, OPT_STORE_MIGRATE},
    {"copy-store", required_argument, NULL, OPT_COPY_STORE},
    {"station-number", required_argument, NULL, OPT_STATION_NUMBER},
    {"listen", required_argument, NULL, OPT_LISTEN},
    {"receive-owner", required_argument, NULL, OPT_RECEIVE_OWNER},
    {"sip-user", required_argument, NULL, OPT_SIP_USER},
    {"sip-password", required_argument, NULL, OPT_SIP_PASSWORD},
    {"sip-local", required_argument, NULL, OPT_SIP_LOCAL},
    {"sip-codecs", required_argument, NULL, OPT_SIP_CODECS},
    {"sip-t38", required_argument, NULL, OPT_SIP_T38},
    {"config", required_argument, NULL, OPT_CONFIG},
    {"notify-cmd", required_argument, NULL, OPT_NOTIFY_CMD},
    {"notify-retry", no_argument, NULL, OPT_NOTIFY_RETRY},
    {"notify-mail", optional_argument, NULL, OPT_NOTIFY_MAIL},
    {"convert-user", required_argument, NULL, OPT_CONVERT_USER},
    {"convert-sandboxes", required_argument, NULL, OPT_CONVERT_SANDBOXES},
    {"max-drafts-per-user", required_argument, NULL, OPT_MAX_DRAFTS_PER_USER},
    {"max-outbox-mb-per-user", required_argument, NULL, OPT_MAX_OUTBOX_MB_PER_USER},
    {"max-jobs-per-user", required_argument, NULL, OPT_MAX_JOBS_PER_USER},
    {"max-recipients", required_argument, NULL, OPT_MAX_RECIPIENTS},
    {"max-open-files-per-user", required_argument, NULL, OPT_MAX_OPEN_FILES_PER_USER},
    {"draft-expire-days", required_argument, NULL, OPT_DRAFT_EXPIRE_DAYS},
    {"sip-allow", required_argument, NULL, OPT_SIP_ALLOW},
    {"sip-calls-per-source", required_argument, NULL, OPT_SIP_CALLS_PER_SOURCE},
    {"sip-inbound-user", required_argument, NULL, OPT_SIP_INBOUND_USER},
    {"sip-inbound-password", required_argument, NULL, OPT_SIP_INBOUND_PASSWORD},
    {"audiosocket-allow", required_argument, NULL, OPT_AUDIOSOCKET_ALLOW},
    {"inbound-calls", required_argument, NULL, OPT_INBOUND_CALLS},
    {"receive-max-pages", required_argument, NULL, OPT_RECEIVE_MAX_PAGES},
    {"receive-max-duration", required_argument, NULL, OPT_RECEIVE_MAX_DURATION},
    {"received-days", required_argument, NULL, OPT_RECEIVED_DAYS},
    {"received-empty-hours", required_argument, NULL, OPT_RECEIVED_EMPTY_HOURS},
    {"receive-max-mib", required_argument, NULL, OPT_RECEIVE_MAX_BYTES},
    {"sendmail", required_argument, NULL, OPT_SENDMAIL},
    {"sendmail-user", required_argument, NULL, OPT_SENDMAIL_USER},
    {"route", required_argument, NULL, OPT_ROUTE},
    {"line-spec", required_argument, NULL, OPT_LINE_SPEC},
    {"line-channels", required_argument, NULL, OPT_LINE_CHANNELS},
    {"line-tsid", required_argument, NULL, OPT_LINE_TSID},
    {"line-header", required_argument, NULL, OPT_LINE_HEADER},
    {"line-caller-id", required_argument, NULL, OPT_LINE_CALLER_ID},
    {"line-user", required_argument, NULL, OPT_LINE_USER},
    {"line-password", required_argument, NULL, OPT_LINE_PASSWORD},
    {"line-local", required_argument, NULL, OPT_LINE_LOCAL},
    {"line-codecs", required_argument, NULL, OPT_LINE_CODECS},
    {"line-t38", required_argument, NULL, OPT_LINE_T38},
    {"line-registrar", required_argument, NULL, OPT_LINE_REGISTRAR},
    {"line-auth-user", required_argument, NULL, OPT_LINE_AUTH_USER},
    {"line-expires", required_argument, NULL, OPT_LINE_EXPIRES},
    {"line-outbound-proxy", required_argument, NULL, OPT_LINE_OUTBOUND_PROXY},
    {"line-keepalive", required_argument, NULL, OPT_LINE_KEEPALIVE},
    {"sip-registrar", required_argument, NULL, OPT_SIP_REGISTRAR},
    {"sip-auth-user", required_argument, NULL, OPT_SIP_AUTH_USER},
    {"sip-expires", required_argument, NULL, OPT_SIP_EXPIRES},
    {"sip-outbound-proxy", required_argument, NULL, OPT_SIP_OUTBOUND_PROXY},
    {"sip-keepalive", required_argument, NULL, OPT_SIP_KEEPALIVE},
    {"audiosocket-number", required_argument, NULL, OPT_AUDIOSOCKET_NUMBER},
    {"print-command", required_argument, NULL, OPT_PRINT_COMMAND},
    {"delivery-retry", required_argument, NULL, OPT_DELIVERY_RETRY},
    {"receipt-notify", required_argument, NULL, OPT_RECEIPT_NOTIFY},
    {"receipt-notify-when", required_argument, NULL, OPT_RECEIPT_NOTIFY_WHEN},
    {"delivery-give-up-hours", required_argument, NULL, OPT_DELIVERY_GIVE_UP_HOURS},
    /* [receive NAME] keys; "owner" is --receive-owner, told apart by its NAME= */
    {"receive-called", required_argument, NULL, OPT_RECEIVE_ROUTE + 0},
    {"receive-caller", required_argument, NULL, OPT_RECEIVE_ROUTE + 1},
    {"receive-csi", required_argument, NULL, OPT_RECEIVE_ROUTE + 2},
    {"receive-group", required_argument, NULL, OPT_RECEIVE_ROUTE + 4},
    {"receive-mail", required_argument, NULL, OPT_RECEIVE_ROUTE + 5},
    {"receive-folder", required_argument, NULL, OPT_RECEIVE_ROUTE + 6},
    {"receive-folder-name", required_argument, NULL, OPT_RECEIVE_ROUTE + 7},
    {"receive-folder-format", required_argument, NULL, OPT_RECEIVE_ROUTE + 8},
    {"receive-folder-owner", required_argument, NULL, OPT_RECEIVE_ROUTE + 9},
    {"receive-folder-mode", required_argument, NULL, OPT_RECEIVE_ROUTE + 10},
    {"receive-print", required_argument, NULL, OPT_RECEIVE_ROUTE + 11},
    {"receive-command", required_argument, NULL, OPT_RECEIVE_ROUTE + 12},
    /* Dial rules (docs/dialing.md). */
    {"dial-country", required_argument, NULL, OPT_DIALPLAN + DPO_COUNTRY},
    {"dial-area", required_argument, NULL, OPT_DIALPLAN + DPO_AREA},
    {"dial-international-prefix", required_argument, NULL, OPT_DIALPLAN + DPO_INTERNATIONAL_PREFIX},
    {"dial-national-prefix", required_argument, NULL, OPT_DIALPLAN + DPO_NATIONAL_PREFIX},
    {"dial-strip-prefix", required_argument, NULL, OPT_DIALPLAN + DPO_STRIP_PREFIX},
    {"dial-deny", required_argument, NULL, OPT_DIALPLAN + DPO_DENY},
    {"dial-deny-file", required_argument, NULL, OPT_DIALPLAN + DPO_DENY_FILE},
    {"dial-allow", required_argument, NULL, OPT_DIALPLAN + DPO_ALLOW},
    {"line-dial-prefix", required_argument, NULL, OPT_DIALPLAN + DPO_LINE_DIAL_PREFIX},
    {"line-number-format", required_argument, NULL, OPT_DIALPLAN + DPO_LINE_NUMBER_FORMAT},
    {"destination-max-calls", required_argument, NULL, OPT_DIALPLAN + DPO_DEST_MAX_CALLS},
    {"destination-ecm", required_argument, NULL, OPT_DIALPLAN + DPO_DEST_ECM},
    {"destination-max-bit-rate", required_argument, NULL, OPT_DIALPLAN + DPO_DEST_MAX_BIT_RATE},
    {"destination-min-bit-rate", required_argument, NULL, OPT_DIALPLAN + DPO_DEST_MIN_BIT_RATE},
    {"destination-t38", required_argument, NULL, OPT_DIALPLAN + DPO_DEST_T38},
    {"destination-max-pages", required_argument, NULL, OPT_DIALPLAN + DPO_DEST_MAX_PAGES},
    {"destination-window", required_argument, NULL, OPT_DIALPLAN + DPO_DEST_WINDOW},
    {"destination-refuse", required_argument, NULL, OPT_DIALPLAN + DPO_DEST_REFUSE},
    {"destination-batch", required_argument, NULL, OPT_DIALPLAN + DPO_DEST_BATCH},
    {"batch-max", required_argument, NULL, OPT_BATCH_MAX},
    {"sim-setup-time", required_argument, NULL, OPT_SIM_SETUP_TIME},
    {"dsp-priority", required_argument, NULL, OPT_DSP_PRIORITY},
    {"ecm", required_argument, NULL, OPT_DIALPLAN + DPO_ECM},
    {"max-bit-rate", required_argument, NULL, OPT_DIALPLAN + DPO_MAX_BIT_RATE},
    {"min-bit-rate", required_argument, NULL, OPT_DIALPLAN + DPO_MIN_BIT_RATE},
    {NULL, 0, NULL, 0},
};

void options_print_help(FILE *out, const char *prog)
{
    fprintf(out,
            "usage: %s [OPTIONS] MOUNTPOINT\n"
            "       %s [OPTIONS] SPOOL MOUNTPOINT      (the form mount.fuse3 and fstab use)\n"
            "       %s --check-spool DIR|CONNINFO\n"
            "       %s --store-migrate --store CONNINFO\n"
            "       %s --copy-store FROM TO\n"
            "\n"
            "Starts the faxfs fax server and mounts its queue at MOUNTPOINT:\n"
            "jobs/<id>/ (unfinished jobs), history/<id>/ (finished jobs), received/<id>/\n"
            "(received faxes), outbox/ (submit by copying a document, PDF, PostScript,\n"
            "TIFF, PNG or JPEG, to outbox/NUMBER.pdf), modems/, server, metrics, ctl.\n"
            "\n"
            "Options:\n"
            "  -s, --spool DIR          spool directory, the durable queue (default\n"
            "                           /var/spool/faxfs for root, $XDG_STATE_HOME/faxfs\n"
            "                           or ~/.local/state/faxfs for other users)\n"
            "      --line SPEC          how calls are placed (default sim):\n"
            "                             sim           the simulated phone network\n"
            "                             exec:COMMAND  COMMAND NUMBER carries the call's\n"
            "                                           audio on stdin/stdout (raw 8 kHz\n"
            "                                           16-bit signed little-endian mono)\n"
            "                             sip:HOST[:PORT]  INVITE NUMBER@HOST (port 5060)\n"
            "                                           over UDP; G.711, then T.38 if the\n"
            "                                           peer accepts the re-INVITE\n"
            "      --line NAME=SPEC     a named line (repeatable); its channels, station id\n"
            "                           and SIP settings are --line-KEY NAME=VALUE, or\n"
            "                           the keys of a [line NAME] section of the\n"
            "                           configuration file: spec, channels (default 1),\n"
            "                           tsid, header, caller-id, user, password (file or\n"
            "                           FAXFS_LINE_<NAME>_PASSWORD only), local, codecs,\n"
            "                           t38, registrar, auth-user, expires,\n"
            "                           outbound-proxy, keepalive. --line SPEC without a\n"
            "                           name is the line 'default' with --modems channels\n"
            "      --route 'PATTERN LINE[,LINE...]'  numbers matching PATTERN (+4420*,\n"
            "                           555XXXX, *) go out on these lines, in order: a\n"
            "                           line failure tries the next at once (repeatable,\n"
            "                           first match wins; default: every line in order)\n"
            "      --sim-pace PACE      fast (default): simulated calls run as fast as the\n"
            "                           CPU allows; realtime: at the speed of a real line\n"
            "      --modems N           modem channels (default 4)\n"
            "      --per-destination N  concurrent calls to one number (default 1, 0 = no limit)\n"
            "      --batch-max N        due jobs of one owner to one number go in one call,\n"
            "                           at most N documents a call (default 10; 1 = off)\n"
            "      --sim-setup-time S   simulated network: seconds from dialing to answer\n"
            "                           (default 2; a real call takes 3-6)\n"
            "      --dsp-priority N     run the modem DSP threads at real-time priority N\n"
            "                           (SCHED_RR, 1-99; default 0: normal scheduling)\n"
            "\n"
            "Dial rules (docs/dialing.md; without them numbers are dialed as typed):\n"
            "      --dial-country CC    country code: numbers become E.164 (+CC...)\n"
            "      --dial-area CODE     area code added to local numbers\n"
            "      --dial-international-prefix P  e.g. 00, 011, 010, 0011\n"
            "      --dial-national-prefix P       trunk prefix, e.g. 0 (or 1 in NANP)\n"
            "      --dial-strip-prefix P  outside-line prefix people type by habit (9)\n"
            "      --dial-deny PATTERN  refuse matching numbers (repeatable)\n"
            "      --dial-deny-file FILE  one pattern per line, # comments\n"
            "      --dial-allow PATTERN lift a built-in refusal (emergency, premium rate)\n"
            "      --line-dial-prefix NAME=P  dialed in front of every number on line NAME\n"
            "      --line-number-format NAME=F  e164, international, national or local\n"
            "      --destination-KEY PATTERN=VALUE  [destination PATTERN] controls: max-calls,\n"
            "                           ecm, max-bit-rate, min-bit-rate, t38, max-pages,\n"
            "                           window (Mon-Fri 08:00-18:00), refuse (a message)\n"
            "      --ecm yes|no         error correction mode (default yes)\n"
            "      --max-bit-rate N     2400, 4800, 7200, 9600, 12000 or 14400\n"
            "      --min-bit-rate N     end calls that train below N bps\n"
            "\n"
            "      --retry-delay SECS   one retry delay for every failure class (default per\n"
            "                           class: busy 180, no answer 300, no line 300,\n"
            "                           not a fax 300, dropped call 60)\n"
            "      --max-attempts N     calls per job before it fails (default %d)\n"
            "      --history-days N     keep finished jobs N days (default 30, 0 = forever)\n"
            "      --tsid ID            station id sent to remote machines (max 20 chars)\n"
            "      --station-number N   this server's own number on the simulated network;\n"
            "                           give it again for each further number (DID) of ours\n"
            "      --audiosocket-number N  the number the AudioSocket listener serves\n"
            "                           (AudioSocket carries no called number)\n"
            "                           (default 5550100): faxes sent to it are received\n"
            "                           into received/\n"
            "      --listen SPEC        accept inbound fax calls (may be given twice, once\n"
            "                           per kind); SPEC is\n"
            "                             audiosocket:HOST:PORT  Asterisk AudioSocket\n"
            "                           (HOST defaults to 127.0.0.1 when empty)\n"
            "                             sip:ADDR:PORT  SIP calls over UDP, G.711 or T.38;\n"
            "                           the caller id is the user of the From header\n"
            "      --sip-user NAME      SIP From user and digest user name (default faxfs)\n"
            "      --sip-password SECRET  digest password for 401/407 challenges (better:\n"
            "                           set FAXFS_SIP_PASSWORD, which ps(1) does not show)\n"
            "      --sip-local ADDR[:PORT]  address (and port) --line sip: calls and their\n"
            "                           media use (default: the address routed to the peer)\n"
            "      --sip-codecs LIST    pcmu,pcma (default), pcma,pcmu, pcmu or pcma\n"
            "      --sip-t38 on|off     offer and accept T.38 (default on)\n"
            "      --receive-owner USER[:GROUP]  owner of received faxes (default root)\n"
            "      --receive-KEY NAME=VALUE  inbound route NAME ([receive NAME] in the\n"
            "                           configuration file): match keys called, caller,\n"
            "                           csi; actions owner, group, mail, folder,\n"
            "                           folder-name, folder-format, folder-owner,\n"
            "                           folder-mode, print, command (docs: faxfs.5)\n"
            "      --print-command CMD  prints a received fax: CMD PRINTER, the fax on\n"
            "                           stdin (default 'lp -d')\n"
            "      --delivery-retry LIST  seconds between tries of a failed delivery\n"
            "                           (default 60,300,900,3600; the last repeats)\n"
            "      --delivery-give-up-hours N  no new try this long after the first (24)\n"
            "      --receipt-notify USER=ADDRS  receipts of USER's jobs that ask for none\n"
            "                           go to ADDRS ([receipt USER] notify = ADDRS)\n"
            "      --receipt-notify-when USER=WHEN  final, done, failed or every-attempt\n"
            "                           (final)\n"
            "      --sip-allow LIST     who may call the SIP listener: addresses and\n"
            "                           ADDR/BITS prefixes, comma-separated, or any\n"
            "                           (default any); others get 403\n"
            "      --sip-calls-per-source N  inbound SIP calls at once from one address\n"
            "                           (default 4); more get 486\n"
            "      --sip-inbound-user NAME  inbound INVITEs must carry a digest for NAME\n"
            "                           and --sip-inbound-password SECRET (better: set\n"
            "                           FAXFS_SIP_INBOUND_PASSWORD); others get 401\n"
            "      --sip-registrar sip:HOST[:PORT]  REGISTER the SIP line there; calls then go\n"
            "                           to NUMBER@HOST, and calls to the registered\n"
            "                           contact are received (the --sip-allow rules apply)\n"
            "      --sip-auth-user NAME  digest user name when it differs from --sip-user\n"
            "      --sip-expires SECS   registration lifetime asked for (default 3600)\n"
            "      --sip-outbound-proxy sip:HOST[:PORT]  send every SIP request through it\n"
            "      --sip-keepalive SECS  OPTIONS to the proxy or registrar this often, to\n"
            "                           keep a NAT binding open (default: none)\n"
            "      --audiosocket-allow LIST  who may connect to the AudioSocket listener\n"
            "                           (default 127.0.0.0/8,::1)\n"
            "      --inbound-calls N    inbound calls at once, all listeners (default 8)\n"
            "      --receive-max-pages N  pages per received fax (default 200)\n"
            "      --receive-max-duration SECS  line time per received fax (default 3600)\n"
            "      --receive-max-mib N  MiB of pages per received fax (default 100)\n"
            "      --received-days N    keep received faxes N days (default 0 = until\n"
            "                           deleted)\n"
            "      --received-empty-hours N  keep failed receives without a page N hours\n"
            "                           (default 24, 0 = as --received-days)\n"
            "      --admin-group GROUP  members may act on every user's jobs (root always may)\n"
            "      --priority-group GROUP  only members (and administrators) may give a job a\n"
            "                           priority above normal; without it, everyone may\n"
            "      --max-drafts-per-user N  drafts one user may keep in outbox/ (default 20)\n"
            "      --max-outbox-mb-per-user N  MiB one user's uploads and drafts may hold\n"
            "                           (default 200)\n"
            "      --max-jobs-per-user N  unfinished jobs one user may have (default 500)\n"
            "      --max-recipients N  numbers in one broadcast's recipients file\n"
            "                           (default 10000)\n"
            "      --max-open-files-per-user N  uploads, draft documents, pages, previews\n"
            "                           and logs one user may hold open (default 256)\n"
            "      --draft-expire-days N  drafts untouched N days are removed (default 7);\n"
            "                           0 for any of these: no limit; root is exempt\n"
            "      --notify-cmd CMD     run CMD (with /bin/sh) when a job is done, failed or\n"
            "                           canceled, or a fax was received; the job's\n"
            "                           properties are in FAXFS_* environment variables\n"
            "      --notify-retry       also run it after each failed attempt that is retried\n"
            "      --notify-mail[=WHEN] mail the job's owner through sendmail (--sendmail):\n"
            "                           failures (the default WHEN), all, or none\n"
            "      --sendmail PATH      the MTA's sendmail program for every mail faxfs sends\n"
            "                           (default /usr/sbin/sendmail)\n"
            "      --sendmail-user USER run sendmail as USER (default: the daemon's user)\n"
            "      --convert-user USER  documents are converted in a sandbox as USER, never\n"
            "                           root (default faxfs-convert; nobody, with a warning,\n"
            "                           when that user does not exist)\n"
            "      --convert-sandboxes N keep up to N sandboxes running, each for the\n"
            "                           documents of one submitting user (default twice the\n"
            "                           processors, at most 4; 0: one sandbox per document)\n"
            "      --config FILE        read settings from FILE (default /etc/faxfs.conf if\n"
            "                           it exists): `key = value` lines, keys are the long\n"
            "                           options above; the command line overrides them.\n"
            "                           SIGHUP re-reads the notification settings\n"
            "  -f, --foreground         stay in the foreground, log to stderr\n"
            "  -d, --debug              trace FUSE requests (implies -f)\n"
            "  -o OPT[,OPT...]          mount options: FUSE's (e.g. allow_other,\n"
            "                           default_permissions) and any long option above as\n"
            "                           NAME=VALUE (e.g. -o modems=8,line=sim), for fstab\n"
            "      --check-spool DIR    check a spool for inconsistencies (read-only, safe\n"
            "                           beside a running daemon) and exit: 0 clean,\n"
            "                           1 inconsistent, 2 unreadable; a PostgreSQL\n"
            "                           connection string checks that store instead\n"
            "      --store STORE        where the queue is kept: file (the spool, default)\n"
            "                           or a PostgreSQL connection string (postgresql://\n"
            "                           URL or key=value; no password in it: PGPASSWORD or\n"
            "                           a passfile). The spool directory then holds only a\n"
            "                           local cache. See docs/postgresql.md\n"
            "      --node NAME          this server's name on the store (default: host name)\n"
            "      --store-lease SECONDS  a call's claim on its job on a database store\n"
            "                           (default 180; short ones for tests)\n"
            "      --store-migrate      bring the --store database's schema up to date, exit\n"
            "      --copy-store FROM TO copy a whole queue (ids, pages, logs) from one store\n"
            "                           into another, empty one (each a spool directory or\n"
            "                           a connection string), with no daemon on either; exit\n"
            "  -h, --help               show this help and exit\n"
            "      --version            show the version and exit\n"
            "\n"
            "Reserved numbers of the simulated network (--line sim):\n"
            "%s"
            "\n"
            "Unmount with fusermount3 -u MOUNTPOINT (or SIGTERM/SIGINT): active calls are\n"
            "aborted and their jobs re-queued; confirmed pages are not sent again.\n"
            "See docs/ for the mount layout, the job lifecycle and the spool format.\n",
            prog, prog, prog, prog, prog, QUEUE_DEFAULT_MAX_ATTEMPTS, modem_sim_numbers_help());
}

static int parse_count(const char *name, const char *s, int min, int max, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < min || v > max) {
        fprintf(stderr, "faxfs: %s: '%s' is not a number from %d to %d\n", name, s, min, max);
        return -1;
    }
    *out = (int)v;
    return 0;
}

static void default_spool_dir(char *out, size_t outlen)
{
    if (geteuid() == 0) {
        snprintf(out, outlen, "/var/spool/faxfs");
        return;
    }
    const char *state = getenv("XDG_STATE_HOME");
    if (state && *state == '/') {
        snprintf(out, outlen, "%s/faxfs", state);
        return;
    }
    const char *home = getenv("HOME");
    snprintf(out, outlen, "%s/.local/state/faxfs", home && *home ? home : "/tmp");
}

static const struct option *long_option_named(const char *name)
{
    for (const struct option *o = long_options; o->name; o++)
        if (strcmp(o->name, name) == 0)
            return o;
    return NULL;
}

int options_kind(const char *name)
{
    static const char *const actions[] = {"help", "version", "check-spool", "config", "store-migrate", "copy-store"};
    for (size_t i = 0; i < sizeof actions / sizeof actions[0]; i++)
        if (strcmp(name, actions[i]) == 0)
            return -1;
    const struct option *o = long_option_named(name);
    return o ? o->has_arg != no_argument : -1;
}

const char *options_config_path(int argc, char **argv, int *required)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0)
            break;
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
            *required = 1;
            return argv[i + 1];
        }
        if (strncmp(argv[i], "--config=", 9) == 0) {
            *required = 1;
            return argv[i] + 9;
        }
    }
    *required = 0;
    return "/etc/faxfs.conf";
}

/* A store value: "file", or a PostgreSQL connection string without a
 * password (docs/postgresql.md); a spool directory too where allowed. */
static int store_value_ok(const char *what, const char *value, bool store_option)
{
    char why[300];

    if (store_option && strcmp(value, "file") == 0)
        return 0;
    if (!backend_pg_is_conninfo(value)) {
        if (!store_option)
            return 0; /* a spool directory */
        fprintf(stderr, "faxfs: %s: use file or a PostgreSQL connection string (postgresql://HOST/DB), not '%s'\n",
                what, value);
        return -1;
    }
    if (backend_pg_conninfo_check(value, why, sizeof why) != 0) {
        fprintf(stderr, "faxfs: %s: %s\n", what, why);
        return -1;
    }
    return 0;
}

static bool node_name_ok(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n > 63)
        return false;
    for (const char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '.' ||
              *p == '-' || *p == '_'))
            return false;
    return true;
}

static int apply_option(struct daemon_options *opt, int c, const char *optarg);

/* --receipt-notify / --receipt-notify-when USER=VALUE: USER's default receipt. */
static int set_receipt_user(struct daemon_options *opt, bool when, const char *arg)
{
    const char *what = when ? "--receipt-notify-when" : "--receipt-notify", *eq = strchr(arg, '=');
    size_t nlen = eq ? (size_t)(eq - arg) : 0;
    if (!eq || nlen == 0 || nlen >= sizeof opt->receipt_users[0].user) {
        fprintf(stderr, "faxfs: %s: write USER=VALUE (a user name, then the value), not '%s'\n", what, arg);
        return -1;
    }
    int i = 0;
    while (i < opt->nreceipt_users && (strlen(opt->receipt_users[i].user) != nlen ||
                                        strncmp(opt->receipt_users[i].user, arg, nlen) != 0))
        i++;
    if (i == opt->nreceipt_users) {
        if (i == (int)(sizeof opt->receipt_users / sizeof opt->receipt_users[0])) {
            fprintf(stderr, "faxfs: %s: at most %d users have a default receipt\n", what, i);
            return -1;
        }
        memset(&opt->receipt_users[i], 0, sizeof opt->receipt_users[i]);
        memcpy(opt->receipt_users[i].user, arg, nlen);
        opt->nreceipt_users++;
    }
    char why[200];
    if (when && job_parse_notify_when(eq + 1, &opt->receipt_users[i].when) != 0) {
        fprintf(stderr, "faxfs: %s: '%s' is not final, done, failed or every-attempt\n", what, eq + 1);
        return -1;
    }
    char list[sizeof opt->receipt_users[0].notify];
    if (!when && job_parse_notify(eq + 1, list, sizeof list, why, sizeof why) != 0) {
        fprintf(stderr, "faxfs: %s: %s\n", what, why);
        return -1;
    }
    if (!when && list[0] == '\0') {
        fprintf(stderr, "faxfs: %s: no address given for %s\n", what, opt->receipt_users[i].user);
        return -1;
    }
    if (!when)
        memcpy(opt->receipt_users[i].notify, list, sizeof list);
    return 0;
}

/* -o items naming one of our settings (NAME=VALUE, or NAME for a switch)
 * are applied as that option; the others are FUSE's. */
static int append_mount_opts(struct daemon_options *opt, const char *more)
{
    if (opt->nowned == (int)(sizeof opt->owned / sizeof opt->owned[0])) {
        fprintf(stderr, "faxfs: -o: too many -o options; join them with commas\n");
        return -1;
    }
    char *copy = strdup(more), *save = NULL;
    int bad = copy ? 0 : -1;
    if (copy)
        opt->owned[opt->nowned++] = copy; /* settings point into it */
    for (char *item = copy ? strtok_r(copy, ",", &save) : NULL; item && !bad; item = strtok_r(NULL, ",", &save)) {
        char *value = strchr(item, '=');
        if (value)
            *value++ = '\0';
        int kind = options_kind(item);
        if (kind >= 0) {
            const struct option *o = long_option_named(item);
            if (kind == 1 && !value && o->has_arg == required_argument) {
                fprintf(stderr, "faxfs: -o %s: needs a value (%s=VALUE)\n", item, item);
                bad = -1;
            } else {
                bad = apply_option(opt, o->val, value) < 0 ? -1 : 0;
            }
            continue;
        }
        if (value)
            value[-1] = '=';
        size_t used = strlen(opt->mount_opts);
        int n = snprintf(opt->mount_opts + used, sizeof opt->mount_opts - used, "%s%s", used ? "," : "", item);
        if (n < 0 || (size_t)n >= sizeof opt->mount_opts - used) {
            fprintf(stderr, "faxfs: -o: mount options too long\n");
            bad = -1;
        }
    }
    return bad;
}

void options_free(struct daemon_options *opt)
{
    for (int i = 0; i < opt->nowned; i++)
        free(opt->owned[i]);
    opt->nowned = 0;
    free(opt->receive_routes);
    opt->receive_routes = NULL;
    dialplan_free(opt->dialplan);
    opt->dialplan = NULL;
}

/* One dial rule, destination control or modem setting. */
static int apply_dialplan(struct daemon_options *opt, enum dialplan_option o, const char *value)
{
    char why[256];
    if (!opt->dialplan && !(opt->dialplan = dialplan_new())) {
        fprintf(stderr, "faxfs: --%s: out of memory\n", dialplan_option_name(o));
        return -1;
    }
    if (dialplan_set(opt->dialplan, o, value, why, sizeof why) != 0) {
        fprintf(stderr, "faxfs: --%s: %s\n", dialplan_option_name(o), why);
        return -1;
    }
    return 0;
}

static void set_defaults(struct daemon_options *opt)
{
    memset(opt, 0, sizeof *opt);
    opt->line_spec = "sim";
    opt->sim_pace = "fast";
    opt->modems = 4;
    opt->convert_sandboxes = -1;
    opt->batch_max = QUEUE_DEFAULT_BATCH_MAX;
    opt->max_attempts = QUEUE_DEFAULT_MAX_ATTEMPTS;
    opt->history_days = 30;
    opt->per_destination = 1;
    opt->tsid = "faxfs";
    opt->station_number = "5550100";
    opt->delivery.give_up_s = DELIVERY_DEFAULT_GIVE_UP;
    {
        char why[160];
        (void)delivery_policy_parse_delays(&opt->delivery, DELIVERY_DEFAULT_DELAYS, why, sizeof why);
    }
    opt->max_drafts_per_user = 20;
    opt->max_outbox_mb_per_user = 200;
    opt->max_jobs_per_user = 500;
    opt->max_recipients = 10000;
    opt->max_open_files_per_user = 256;
    opt->draft_expire_days = 7;
    opt->sip_calls_per_source = 4;
    opt->inbound_calls = 8;
    opt->receive_max_pages = 200;
    opt->receive_max_duration = 3600;
    opt->receive_max_mib = 100;
    opt->received_empty_hours = 24;
    default_spool_dir(opt->spool_dir, sizeof opt->spool_dir);
}

static int check_line_spec(const char *spec)
{
    if (strcmp(spec, "sim") == 0 || (strncmp(spec, "exec:", 5) == 0 && spec[5])
        || (strncmp(spec, "sip:", 4) == 0 && spec[4]))
        return 0;
    fprintf(stderr, "faxfs: --line: unknown line '%s'; use 'sim', 'exec:COMMAND' or 'sip:HOST[:PORT]'\n", spec);
    return -1;
}

/* ---- named lines ---- */

static int check_codecs(const char *list);

void options_spec_shown(const char *spec, char *out, size_t outlen)
{
    if (strncmp(spec, "sip:", 4) == 0) {
        const char *host = spec + 4, *at = strchr(host, '@');
        snprintf(out, outlen, "sip:%s", at ? at + 1 : host);
        return;
    }
    snprintf(out, outlen, "%s", spec);
}

/* The line named name (made on first mention, at argv index origin), or
 * NULL after saying why. */
static struct daemon_line *line_named(struct daemon_options *opt, const char *name, size_t len, const char *what)
{
    char nm[LINE_NAME_MAX], why[160];
    if (len >= sizeof nm) {
        fprintf(stderr, "faxfs: %s: the line name '%.*s' is longer than %d characters\n", what, (int)len, name,
                LINE_NAME_MAX - 1);
        return NULL;
    }
    memcpy(nm, name, len);
    nm[len] = '\0';
    if (route_check_line_name(nm, why, sizeof why) != 0) {
        fprintf(stderr, "faxfs: %s: %s\n", what, why);
        return NULL;
    }
    for (int i = 0; i < opt->nlines; i++)
        if (strcmp(opt->lines[i].name, nm) == 0)
            return &opt->lines[i];
    if (opt->nlines == OPTIONS_MAX_LINES) {
        fprintf(stderr, "faxfs: %s: more than %d lines\n", what, OPTIONS_MAX_LINES);
        return NULL;
    }
    struct daemon_line *l = &opt->lines[opt->nlines++];
    memset(l, 0, sizeof *l);
    snprintf(l->name, sizeof l->name, "%s", nm);
    l->t38 = -1;
    l->origin = optind > 0 ? optind - 1 : 0;
    return l;
}

/* "NAME=VALUE" of a --line-KEY option: the line and the value, or NULL. */
static struct daemon_line *line_setting(struct daemon_options *opt, const char *arg, const char *what,
                                        const char **value)
{
    const char *eq = strchr(arg, '=');
    if (!eq) {
        fprintf(stderr, "faxfs: %s: write NAME=VALUE (the line's name, then the value), not '%s'\n", what, arg);
        return NULL;
    }
    *value = eq + 1;
    return line_named(opt, arg, (size_t)(eq - arg), what);
}

/* --line NAME=SPEC names a line when the text before the first '=' is a
 * line name (an exec: command may carry '=' of its own). */
static bool line_arg_is_named(const char *arg)
{
    const char *eq = strchr(arg, '=');
    if (!eq || eq == arg)
        return false;
    for (const char *c = arg; c < eq; c++)
        if (!(isalnum((unsigned char)*c) || *c == '-' || *c == '_'))
            return false;
    return true;
}

static int set_line_spec(struct daemon_options *opt, struct daemon_line *l, const char *spec, const char *what)
{
    if (l->spec && l->spec_origin > 0) {
        fprintf(stderr, "faxfs: %s: the line %s is defined twice; give each line one spec (rename one of "
                "them, or remove one)\n", what, l->name);
        return -1;
    }
    if (check_line_spec(spec) != 0)
        return -1;
    l->spec = spec;
    l->spec_origin = optind > 0 ? optind - 1 : 1;
    (void)opt;
    return 0;
}

/* One --line-KEY NAME=VALUE. */
static int apply_line_option(struct daemon_options *opt, int c, const char *arg)
{
    const struct option *o = NULL;
    for (const struct option *p = long_options; p->name; p++)
        if (p->val == c)
            o = p;
    char what[48];
    snprintf(what, sizeof what, "--%s", o ? o->name : "line");
    if (c == OPT_LINE_PASSWORD && !opt->from_file) {
        fprintf(stderr, "faxfs: --line-password: a line's password is not taken from the command line, where "
                "ps(1) shows it; write it in the configuration file ([line NAME] password = ...) or set "
                "FAXFS_LINE_<NAME>_PASSWORD\n");
        return -1;
    }
    const char *v;
    struct daemon_line *l = line_setting(opt, arg, what, &v);
    if (!l)
        return -1;
    int bad = 0;
    switch (c) {
    case OPT_LINE_SPEC: bad = set_line_spec(opt, l, v, what) != 0; break;
    case OPT_LINE_CHANNELS: bad = parse_count(what, v, 1, 1024, &l->channels) != 0; break;
    case OPT_LINE_TSID:
        if (strlen(v) > 20) {
            fprintf(stderr, "faxfs: %s: '%s' is longer than 20 characters\n", what, v);
            bad = 1;
        }
        l->tsid = v;
        break;
    case OPT_LINE_HEADER: l->header = v; break;
    case OPT_LINE_CALLER_ID: l->caller_id = v; break;
    case OPT_LINE_USER: l->user = v; break;
    case OPT_LINE_PASSWORD: l->password = v; break;
    case OPT_LINE_LOCAL: l->local = v; break;
    case OPT_LINE_CODECS: bad = check_codecs(v) != 0; l->codecs = v; break;
    case OPT_LINE_T38:
        if (strcmp(v, "on") && strcmp(v, "off")) {
            fprintf(stderr, "faxfs: %s: use 'on' or 'off', not '%s'\n", what, v);
            bad = 1;
        }
        l->t38 = strcmp(v, "on") == 0;
        break;
    case OPT_LINE_REGISTRAR:
    case OPT_LINE_OUTBOUND_PROXY:
        if (strncmp(v, "sip:", 4) != 0 || !v[4]) {
            fprintf(stderr, "faxfs: %s: write sip:HOST[:PORT], not '%s'\n", what, v);
            bad = 1;
        }
        if (c == OPT_LINE_REGISTRAR)
            l->registrar = v;
        else
            l->outbound_proxy = v;
        break;
    case OPT_LINE_AUTH_USER: l->auth_user = v; break;
    case OPT_LINE_EXPIRES: bad = parse_count(what, v, 60, 86400, &l->expires) != 0; break;
    case OPT_LINE_KEEPALIVE: bad = parse_count(what, v, 1, 3600, &l->keepalive) != 0; break;
    default: bad = 1; break;
    }
    return bad ? -1 : 0;
}

static int apply_line(struct daemon_options *opt, const char *arg)
{
    if (!line_arg_is_named(arg)) {
        /* The older form: the line "default", with --modems channels. */
        if (check_line_spec(arg) != 0)
            return -1;
        opt->line_spec = arg;
        struct daemon_line *l = line_named(opt, "default", 7, "--line");
        if (!l)
            return -1;
        l->spec = arg;
        l->spec_origin = 0; /* given again, the last one counts, as always */
        return 0;
    }
    const char *eq = strchr(arg, '=');
    struct daemon_line *l = line_named(opt, arg, (size_t)(eq - arg), "--line");
    return l && set_line_spec(opt, l, eq + 1, "--line") == 0 ? 0 : -1;
}

static void say_origin(const char *const *origins, int argc, int index)
{
    if (origins && index > 0 && index < argc && origins[index])
        fprintf(stderr, "faxfs: that setting is at %s; fix it there\n", origins[index]);
}

/* After every word: each line has a spec and its channels, secrets from
 * the environment, and the routes name lines that exist. */
static int finish_lines(struct daemon_options *opt, int argc, const char *const *origins)
{
    if (opt->nlines == 0) {
        struct daemon_line *l = &opt->lines[opt->nlines++];
        memset(l, 0, sizeof *l);
        snprintf(l->name, sizeof l->name, "default");
        l->spec = opt->line_spec;
        l->t38 = -1;
    }
    int total = 0;
    const char *names[OPTIONS_MAX_LINES];
    for (int i = 0; i < opt->nlines; i++) {
        struct daemon_line *l = &opt->lines[i];
        bool dflt = strcmp(l->name, "default") == 0;
        names[i] = l->name;
        if (!l->spec && dflt)
            l->spec = opt->line_spec;
        if (!l->spec) {
            fprintf(stderr, "faxfs: the line %s has settings but no spec; define it with --line %s=SPEC or "
                    "'spec = ...' in its [line %s] section, or remove its settings\n", l->name, l->name, l->name);
            say_origin(origins, argc, l->origin);
            return -1;
        }
        if (l->channels == 0)
            l->channels = dflt ? opt->modems : 1;
        total += l->channels;
        if (!l->password) {
            char env[64];
            int n = snprintf(env, sizeof env, "FAXFS_LINE_%s_PASSWORD", l->name);
            for (int k = 11; k < n; k++)
                env[k] = env[k] == '-' ? '_' : (char)toupper((unsigned char)env[k]);
            l->password = getenv(env);
        }
        if (dflt) { /* the older --sip-* options set the default line */
            if (!l->user)
                l->user = opt->sip_user;
            if (!l->password)
                l->password = opt->sip_password ? opt->sip_password : getenv("FAXFS_SIP_PASSWORD");
            if (!l->registrar)
                l->registrar = opt->sip_registrar;
            if (!l->auth_user)
                l->auth_user = opt->sip_auth_user;
            if (!l->expires)
                l->expires = opt->sip_expires;
            if (!l->outbound_proxy)
                l->outbound_proxy = opt->sip_outbound_proxy;
            if (!l->keepalive)
                l->keepalive = opt->sip_keepalive;
        }
        if (!l->local)
            l->local = opt->sip_local;
        if (!l->codecs)
            l->codecs = opt->sip_codecs;
        if (l->t38 < 0)
            l->t38 = !opt->sip_no_t38;
    }
    if (total > 1024) {
        fprintf(stderr, "faxfs: the lines have %d channels together; at most 1024\n", total);
        return -1;
    }
    for (int r = 0; r < opt->nroutes; r++) {
        char why[300];
        if (route_parse(opt->route_text[r], names, opt->nlines, &opt->routes[r], why, sizeof why) != 0) {
            fprintf(stderr, "faxfs: --route: %s\n", why);
            say_origin(origins, argc, opt->route_origin[r]);
            return -1;
        }
    }
    return 0;
}

/* One listener of each kind: the first --listen, then one more. */
static int add_listen_spec(struct daemon_options *opt, const char *spec)
{
    bool sip = strncmp(spec, "sip:", 4) == 0 && spec[4];
    if (!sip && strncmp(spec, "audiosocket:", 12) != 0) {
        fprintf(stderr, "faxfs: --listen: unknown listener '%s'; use audiosocket:HOST:PORT or sip:ADDR:PORT\n",
                spec);
        return -1;
    }
    if (!opt->listen_spec) {
        opt->listen_spec = spec;
        return 0;
    }
    bool first_sip = strncmp(opt->listen_spec, "sip:", 4) == 0;
    if (opt->listen_more[0] || first_sip == sip) {
        fprintf(stderr, "faxfs: --listen: '%s': at most one audiosocket: and one sip: listener\n", spec);
        return -1;
    }
    opt->listen_more[0] = spec;
    return 0;
}

static int check_allow(const char *name, const char *list)
{
    struct peer_acl acl;
    char err[160];
    if (peer_acl_parse(&acl, list, err, sizeof err) == 0)
        return 0;
    fprintf(stderr, "faxfs: %s: %s\n", name, err);
    return -1;
}

/* --receive-KEY NAME=VALUE: one setting of the inbound route NAME. */
static int add_route_setting(struct daemon_options *opt, int key_index, const char *arg)
{
    const char *key = receive_route_keys[key_index];
    const char *eq = strchr(arg, '=');
    char name[JOB_ROUTE_MAX + 1], why[320];
    if (!eq || eq == arg || (size_t)(eq - arg) > JOB_ROUTE_MAX) {
        fprintf(stderr, "faxfs: --receive-%s: give NAME=VALUE (in the configuration file: %s = VALUE inside "
                "[receive NAME]), not '%s'\n", key, key, arg);
        return -1;
    }
    snprintf(name, sizeof name, "%.*s", (int)(eq - arg), arg);
    if (!opt->receive_routes && !(opt->receive_routes = calloc(1, sizeof *opt->receive_routes))) {
        fprintf(stderr, "faxfs: out of memory\n");
        return -1;
    }
    if (receive_route_set(opt->receive_routes, name, key, eq + 1, why, sizeof why) != 0) {
        fprintf(stderr, "faxfs: --receive-%s: %s\n", key, why);
        return -1;
    }
    return 0;
}

/* --station-number, once per number of ours: the first replaces the default. */
static int add_station_number(struct daemon_options *opt, const char *number)
{
    size_t len = strlen(opt->station_numbers);
    bool first = !opt->station_number_given;
    if (!*number || strchr(number, ',') || len + strlen(number) + 2 > sizeof opt->station_numbers) {
        fprintf(stderr, "faxfs: --station-number: '%s' is empty, has a comma or is one number too many\n", number);
        return -1;
    }
    if (first)
        len = 0;
    snprintf(opt->station_numbers + len, sizeof opt->station_numbers - len, "%s%s", len ? "," : "", number);
    opt->station_number_given = true;
    opt->station_number = opt->station_numbers;
    return 0;
}

static int check_codecs(const char *list)
{
    static const char *const ok[] = { "pcmu,pcma", "pcma,pcmu", "pcmu", "pcma" };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        if (strcmp(list, ok[i]) == 0)
            return 0;
    fprintf(stderr, "faxfs: --sip-codecs: use pcmu,pcma, pcma,pcmu, pcmu or pcma, not '%s'\n", list);
    return -1;
}

/* Applies one option; 0 done, -1 refused (said on stderr), 1 --help,
 * 2 --version. The one place that decides what each option does, for the
 * command line, the configuration file and -o NAME=VALUE alike. */
static int apply_option(struct daemon_options *opt, int c, const char *optarg)
{
    int bad = 0;
    switch (c) {
    case 's':
        if (snprintf(opt->spool_dir, sizeof opt->spool_dir, "%s", optarg) >= (int)sizeof opt->spool_dir) {
            fprintf(stderr, "faxfs: --spool: path too long\n");
            bad = 1;
        }
        break;
    case OPT_LINE: bad |= apply_line(opt, optarg) != 0; break;
    case OPT_ROUTE:
        if (opt->nroutes == OPTIONS_MAX_ROUTES) {
            fprintf(stderr, "faxfs: --route: more than %d routes\n", OPTIONS_MAX_ROUTES);
            bad = 1;
            break;
        }
        opt->route_origin[opt->nroutes] = optind > 0 ? optind - 1 : 0;
        opt->route_text[opt->nroutes++] = optarg; /* checked once every line is known */
        break;
    case OPT_LINE_SPEC:
    case OPT_LINE_CHANNELS:
    case OPT_LINE_TSID:
    case OPT_LINE_HEADER:
    case OPT_LINE_CALLER_ID:
    case OPT_LINE_USER:
    case OPT_LINE_PASSWORD:
    case OPT_LINE_LOCAL:
    case OPT_LINE_CODECS:
    case OPT_LINE_T38:
    case OPT_LINE_REGISTRAR:
    case OPT_LINE_AUTH_USER:
    case OPT_LINE_EXPIRES:
    case OPT_LINE_OUTBOUND_PROXY:
    case OPT_LINE_KEEPALIVE: bad |= apply_line_option(opt, c, optarg) != 0; break;
    case OPT_SIM_PACE:
        if (strcmp(optarg, "fast") && strcmp(optarg, "realtime")) {
            fprintf(stderr, "faxfs: --sim-pace: use 'fast' or 'realtime', not '%s'\n", optarg);
            bad = 1;
        }
        opt->sim_pace = optarg;
        break;
    case OPT_MODEMS: bad |= parse_count("--modems", optarg, 1, 1024, &opt->modems) != 0; break;
    case OPT_RETRY_DELAY:
        bad |= parse_count("--retry-delay", optarg, 1, 7 * 86400, &opt->retry_delay) != 0;
        break;
    case OPT_MAX_ATTEMPTS:
        bad |= parse_count("--max-attempts", optarg, 1, 1000, &opt->max_attempts) != 0;
        break;
    case OPT_HISTORY_DAYS:
        bad |= parse_count("--history-days", optarg, 0, 100000, &opt->history_days) != 0;
        break;
    case OPT_PER_DESTINATION:
        bad |= parse_count("--per-destination", optarg, 0, 1024, &opt->per_destination) != 0;
        break;
    case OPT_BATCH_MAX:
        bad |= parse_count("--batch-max", optarg, 1, QUEUE_BATCH_LIMIT, &opt->batch_max) != 0;
        break;
    case OPT_SIM_SETUP_TIME:
        bad |= parse_count("--sim-setup-time", optarg, 1, 120, &opt->sim_setup_time) != 0;
        break;
    case OPT_DSP_PRIORITY:
        bad |= parse_count("--dsp-priority", optarg, 0, 99, &opt->dsp_priority) != 0;
        break;
    case OPT_TSID:
        if (strlen(optarg) > 20) {
            fprintf(stderr, "faxfs: --tsid: '%s' is longer than 20 characters\n", optarg);
            bad = 1;
        }
        opt->tsid = optarg;
        break;
    case OPT_ADMIN_GROUP: opt->admin_group = optarg; break;
    case OPT_PRIORITY_GROUP: opt->priority_group = optarg; break;
    case 'f': opt->foreground = true; break;
    case 'd': opt->debug = opt->foreground = true; break;
    case 'o': bad |= append_mount_opts(opt, optarg) != 0; break;
    case OPT_CONFIG: break; /* read before parsing: options_config_path() */
    case OPT_NOTIFY_CMD: opt->notify_cmd = optarg; break;
    case OPT_NOTIFY_RETRY: opt->notify_retry = true; break;
    case OPT_NOTIFY_MAIL:
        if (optarg && strcmp(optarg, "none") && strcmp(optarg, "failures") && strcmp(optarg, "all")) {
            fprintf(stderr, "faxfs: --notify-mail: use failures, all or none, not '%s'\n", optarg);
            bad = 1;
        }
        opt->notify_mail = optarg ? optarg : "failures";
        break;
    case 'h': return 1;
    case OPT_VERSION: return 2;
    case OPT_CHECK_SPOOL:
        opt->check_spool = optarg;
        bad |= store_value_ok("--check-spool", optarg, false) != 0;
        break;
    case OPT_STORE:
        opt->store = optarg;
        bad |= store_value_ok("--store", optarg, true) != 0;
        break;
    case OPT_NODE:
        if (!node_name_ok(optarg)) {
            fprintf(stderr, "faxfs: --node: '%s' is not a node name (1 to 63 letters, digits, '.', '-', '_')\n",
                    optarg);
            bad = 1;
        }
        opt->node = optarg;
        break;
    case OPT_STORE_LEASE: {
        char *end;
        long v = strtol(optarg, &end, 10);
        if (end == optarg || *end != '\0' || v < 3 || v > 3600) {
            fprintf(stderr, "faxfs: --store-lease: '%s' is not a number of seconds from 3 to 3600\n", optarg);
            bad = 1;
        } else {
            opt->store_lease = (int)v;
        }
        break;
    }
    case OPT_STORE_MIGRATE: opt->store_migrate = true; break;
    case OPT_COPY_STORE:
        opt->copy_from = optarg;
        bad |= store_value_ok("--copy-store", optarg, false) != 0;
        break;
    case OPT_STATION_NUMBER: bad |= add_station_number(opt, optarg) != 0; break;
    case OPT_AUDIOSOCKET_NUMBER: opt->audiosocket_number = optarg; break;
    case OPT_PRINT_COMMAND: opt->print_command = optarg; break;
    case OPT_DELIVERY_RETRY: {
        char why[200];
        if (delivery_policy_parse_delays(&opt->delivery, optarg, why, sizeof why) != 0) {
            fprintf(stderr, "faxfs: --delivery-retry: %s\n", why);
            bad = 1;
        }
        break;
    }
    case OPT_RECEIPT_NOTIFY: bad |= set_receipt_user(opt, false, optarg) != 0; break;
    case OPT_RECEIPT_NOTIFY_WHEN: bad |= set_receipt_user(opt, true, optarg) != 0; break;
    case OPT_DELIVERY_GIVE_UP_HOURS: {
        int h = 0;
        bad |= parse_count("--delivery-give-up-hours", optarg, 1, 24 * 365, &h) != 0;
        opt->delivery.give_up_s = h * 3600;
        break;
    }
    case OPT_LISTEN: bad |= add_listen_spec(opt, optarg) != 0; break;
    case OPT_SIP_USER: opt->sip_user = optarg; break;
    case OPT_SIP_PASSWORD: opt->sip_password = optarg; break;
    case OPT_SIP_LOCAL: opt->sip_local = optarg; break;
    case OPT_SIP_CODECS:
        bad |= check_codecs(optarg) != 0;
        opt->sip_codecs = optarg;
        break;
    case OPT_SIP_T38:
        if (strcmp(optarg, "on") && strcmp(optarg, "off")) {
            fprintf(stderr, "faxfs: --sip-t38: use 'on' or 'off', not '%s'\n", optarg);
            bad = 1;
        }
        opt->sip_no_t38 = strcmp(optarg, "off") == 0;
        break;
    case OPT_RECEIVE_OWNER:
        if (strchr(optarg, '=')) /* [receive NAME] owner = USER */
            bad |= add_route_setting(opt, 3, optarg) != 0;
        else
            opt->receive_owner = optarg;
        break;
    case OPT_CONVERT_USER: opt->convert_user = optarg; break;
    case OPT_CONVERT_SANDBOXES:
        bad |= parse_count("--convert-sandboxes", optarg, 0, 4, &opt->convert_sandboxes) != 0;
        break;
    case OPT_SENDMAIL:
        if (optarg[0] != '/') {
            fprintf(stderr, "faxfs: --sendmail: give an absolute path, not '%s'\n", optarg);
            bad = 1;
        }
        opt->sendmail = optarg;
        break;
    case OPT_SENDMAIL_USER: opt->sendmail_user = optarg; break;
    case OPT_MAX_DRAFTS_PER_USER:
        bad |= parse_count("--max-drafts-per-user", optarg, 0, 100000, &opt->max_drafts_per_user) != 0;
        break;
    case OPT_MAX_OUTBOX_MB_PER_USER:
        bad |= parse_count("--max-outbox-mb-per-user", optarg, 0, 1 << 20, &opt->max_outbox_mb_per_user) != 0;
        break;
    case OPT_MAX_JOBS_PER_USER:
        bad |= parse_count("--max-jobs-per-user", optarg, 0, 1000000, &opt->max_jobs_per_user) != 0;
        break;
    case OPT_MAX_RECIPIENTS:
        bad |= parse_count("--max-recipients", optarg, 1, 1000000, &opt->max_recipients) != 0;
        break;
    case OPT_MAX_OPEN_FILES_PER_USER:
        bad |= parse_count("--max-open-files-per-user", optarg, 0, 100000, &opt->max_open_files_per_user) != 0;
        break;
    case OPT_DRAFT_EXPIRE_DAYS:
        bad |= parse_count("--draft-expire-days", optarg, 0, 36500, &opt->draft_expire_days) != 0;
        break;
    case OPT_SIP_ALLOW: bad |= check_allow("--sip-allow", optarg) != 0; opt->sip_allow = optarg; break;
    case OPT_AUDIOSOCKET_ALLOW:
        bad |= check_allow("--audiosocket-allow", optarg) != 0;
        opt->audiosocket_allow = optarg;
        break;
    case OPT_SIP_CALLS_PER_SOURCE:
        bad |= parse_count("--sip-calls-per-source", optarg, 1, 4096, &opt->sip_calls_per_source) != 0;
        break;
    case OPT_SIP_INBOUND_USER: opt->sip_inbound_user = optarg; break;
    case OPT_SIP_REGISTRAR:
    case OPT_SIP_OUTBOUND_PROXY:
        if (strncmp(optarg, "sip:", 4) != 0 || !optarg[4] || strchr(optarg, '@')) {
            fprintf(stderr, "faxfs: --%s: use sip:HOST or sip:HOST:PORT, not '%s'\n",
                    c == OPT_SIP_REGISTRAR ? "sip-registrar" : "sip-outbound-proxy", optarg);
            bad = 1;
        }
        *(c == OPT_SIP_REGISTRAR ? &opt->sip_registrar : &opt->sip_outbound_proxy) = optarg;
        break;
    case OPT_SIP_AUTH_USER: opt->sip_auth_user = optarg; break;
    case OPT_SIP_EXPIRES: bad |= parse_count("--sip-expires", optarg, 10, 86400, &opt->sip_expires) != 0; break;
    case OPT_SIP_KEEPALIVE: bad |= parse_count("--sip-keepalive", optarg, 0, 3600, &opt->sip_keepalive) != 0; break;
    case OPT_SIP_INBOUND_PASSWORD: opt->sip_inbound_password = optarg; break;
    case OPT_INBOUND_CALLS: bad |= parse_count("--inbound-calls", optarg, 1, 1024, &opt->inbound_calls) != 0; break;
    case OPT_RECEIVE_MAX_PAGES:
        bad |= parse_count("--receive-max-pages", optarg, 1, 100000, &opt->receive_max_pages) != 0;
        break;
    case OPT_RECEIVE_MAX_DURATION:
        bad |= parse_count("--receive-max-duration", optarg, 1, 7 * 86400, &opt->receive_max_duration) != 0;
        break;
    case OPT_RECEIVE_MAX_BYTES:
        bad |= parse_count("--receive-max-mib", optarg, 1, 1 << 20, &opt->receive_max_mib) != 0;
        break;
    case OPT_RECEIVED_DAYS: bad |= parse_count("--received-days", optarg, 0, 100000, &opt->received_days) != 0; break;
    case OPT_RECEIVED_EMPTY_HOURS:
        bad |= parse_count("--received-empty-hours", optarg, 0, 1000000, &opt->received_empty_hours) != 0;
        break;
    default:
        if (c >= OPT_RECEIVE_ROUTE && c <= OPT_RECEIVE_ROUTE + 12)
            bad |= add_route_setting(opt, c - OPT_RECEIVE_ROUTE, optarg) != 0;
        else if (c >= OPT_DIALPLAN && c < OPT_DIALPLAN + DPO_COUNT)
            bad |= apply_dialplan(opt, (enum dialplan_option)(c - OPT_DIALPLAN), optarg) != 0;
        else
            bad = 1;
        break;
    }
    return bad ? -1 : 0;
}

enum options_result options_parse(int argc, char **argv, struct daemon_options *opt)
{
    return options_parse_from(argc, argv, NULL, opt);
}

enum options_result options_parse_from(int argc, char **argv, const char *const *origins,
                                       struct daemon_options *opt)
{
    set_defaults(opt);
    int c;
    int bad = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "s:fdho:", long_options, NULL)) != -1) {
        opt->from_file = origins && optind > 0 && optind <= argc && origins[optind - 1];
        int r = c == '?' ? -1 : apply_option(opt, c, optarg);
        opt->from_file = false;
        if (r == 1) {
            options_print_help(stdout, "faxfs");
            return OPTIONS_EXIT_OK;
        }
        if (r == 2) {
            printf("faxfs %s\n", FAXFS_VERSION);
            return OPTIONS_EXIT_OK;
        }
        if (r < 0 && origins && optind > 0 && optind <= argc && origins[optind - 1])
            fprintf(stderr, "faxfs: that setting is at %s; fix it there\n", origins[optind - 1]);
        bad |= r < 0;
    }
    if (!bad && finish_lines(opt, argc, origins) != 0)
        bad = 1;
    if (!bad && opt->check_spool && optind == argc)
        return OPTIONS_RUN;
    if (!bad && opt->store_migrate && optind == argc) {
        if (opt->store == NULL || strcmp(opt->store, "file") == 0) {
            fprintf(stderr, "faxfs: --store-migrate: give the database with --store CONNINFO\n");
            return OPTIONS_EXIT_USAGE;
        }
        return OPTIONS_RUN;
    }
    if (!bad && opt->copy_from) {
        if (optind != argc - 1) {
            fprintf(stderr, "faxfs: --copy-store FROM TO: %s\n", optind >= argc ? "missing TO" : "too many arguments");
            fprintf(stderr, "Try 'faxfs --help'.\n");
            return OPTIONS_EXIT_USAGE;
        }
        opt->copy_to = argv[optind];
        if (store_value_ok("--copy-store", opt->copy_to, false) != 0) {
            fprintf(stderr, "Try 'faxfs --help'.\n");
            return OPTIONS_EXIT_USAGE;
        }
        return OPTIONS_RUN;
    }
    /* mount.fuse3 (fstab) runs `faxfs SOURCE MOUNTPOINT -o ...`: the
     * source is the spool directory. */
    if (!bad && optind == argc - 2) {
        if (snprintf(opt->spool_dir, sizeof opt->spool_dir, "%s", argv[optind]) >= (int)sizeof opt->spool_dir) {
            fprintf(stderr, "faxfs: spool: path too long\n");
            bad = 1;
        }
        optind++;
    }
    if (!bad && optind != argc - 1) {
        fprintf(stderr, optind >= argc ? "faxfs: missing MOUNTPOINT\n" : "faxfs: too many arguments\n");
        bad = 1;
    }
    char rwhy[320];
    if (!bad && opt->receive_routes && receive_routes_check(opt->receive_routes, rwhy, sizeof rwhy) != 0) {
        fprintf(stderr, "faxfs: %s\n", rwhy);
        bad = 1;
    }
    if (bad) {
        fprintf(stderr, "Try 'faxfs --help'.\n");
        return OPTIONS_EXIT_USAGE;
    }
    opt->mountpoint = argv[optind];
    return OPTIONS_RUN;
}
