# shellcheck shell=bash
# postfix.sh - a private Postfix instance for tests (source it; needs root,
# as Postfix's master does). Everything lives in one temporary directory:
# its own config_directory, queue_directory and data_directory, a log file
# instead of syslog, no network listener at all, no relaying anywhere.
# Mail to the test domain (fax.localhost) is delivered by Postfix's virtual
# agent into Maildirs under $PF_MAILDIRS/<user>/ for the users given to
# postfix_start; every other recipient bounces. Several instances run side
# by side (one directory each; queue ids and process names are per
# instance).
#
#   postfix_start USER...     start an instance; sets PF_DIR, PF_CONF, PF_SENDMAIL
#                             (a sendmail for this instance), PF_DOMAIN, PF_MAILDIRS
#   postfix_wait_mail USER [SECONDS]
#                             prints the path of the first message in USER's Maildir
#   postfix_stop              stops it and removes its directory (also from the
#                             EXIT trap postfix_start installs)
#
# Set PF_EXTRA_MAIN and PF_EXTRA_MASTER (lines) before postfix_start to add
# to the instance's main.cf and master.cf (e.g. a pipe transport).
#
# bash has one trap per signal: postfix_start chains to an EXIT trap set
# before it (which still sees the exit status); a trap set after it must
# call postfix_stop itself.

PF_DOMAIN=fax.localhost
PF_DIR=""

postfix_log() { echo "postfix.sh: $*" >&2; }

postfix_start() {
    [[ $(id -u) -eq 0 ]] || { postfix_log "needs root (Postfix's master runs as root)"; return 1; }
    command -v postfix >/dev/null || { postfix_log "postfix is not installed (scripts/setup.sh)"; return 1; }
    PF_DIR=$(mktemp -d /tmp/faxfs-postfix.XXXXXX)
    chmod 755 "$PF_DIR"
    PF_CONF=$PF_DIR/conf
    PF_MAILDIRS=$PF_DIR/mail
    PF_SENDMAIL=$PF_DIR/sendmail
    mkdir -p "$PF_CONF" "$PF_DIR/queue" "$PF_DIR/data" "$PF_MAILDIRS"
    chown postfix: "$PF_DIR/data"
    # The virtual agent delivers as nobody; the test reads as root.
    chown 65534:65534 "$PF_MAILDIRS"
    local name=faxfs-pf-${PF_DIR##*.}
    : > "$PF_CONF/vmailbox"
    local u
    for u in "$@"; do
        echo "$u@$PF_DOMAIN $u/" >> "$PF_CONF/vmailbox" # trailing /: Maildir
    done
    cat > "$PF_CONF/main.cf" <<EOF
compatibility_level = 3.6
queue_directory = $PF_DIR/queue
data_directory = $PF_DIR/data
command_directory = /usr/sbin
daemon_directory = /usr/lib/postfix/sbin
shlib_directory = /usr/lib/postfix
meta_directory = /etc/postfix
mail_owner = postfix
setgid_group = postdrop
syslog_name = $name
maillog_file = $PF_DIR/maillog
maillog_file_prefixes = $PF_DIR
myhostname = mail.$PF_DOMAIN
mydomain = $PF_DOMAIN
myorigin = $PF_DOMAIN
mydestination =
inet_interfaces = loopback-only
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
relayhost =
default_transport = error:this test instance does not relay
relay_transport = error:this test instance does not relay
virtual_mailbox_domains = $PF_DOMAIN
virtual_mailbox_base = $PF_MAILDIRS
virtual_mailbox_maps = texthash:$PF_CONF/vmailbox
virtual_uid_maps = static:65534
virtual_gid_maps = static:65534
virtual_minimum_uid = 100
alias_maps =
alias_database =
biff = no
append_dot_mydomain = no
smtputf8_enable = no
EOF
    # No smtp/smtpd: nothing listens on the network.
    cat > "$PF_CONF/master.cf" <<'EOF'
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
virtual   unix  -       n       n       -       -       virtual
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
EOF
    [[ -z ${PF_EXTRA_MAIN:-} ]] || printf '%s\n' "$PF_EXTRA_MAIN" >> "$PF_CONF/main.cf"
    [[ -z ${PF_EXTRA_MASTER:-} ]] || printf '%s\n' "$PF_EXTRA_MASTER" >> "$PF_CONF/master.cf"
    # faxfs's --sendmail takes a program, not a command line: this one
    # points Postfix's sendmail at the instance.
    cat > "$PF_SENDMAIL" <<EOF
#!/bin/sh
exec /usr/sbin/sendmail -C '$PF_CONF' "\$@"
EOF
    chmod 755 "$PF_SENDMAIL"
    local prev
    prev=$(trap -p EXIT | sed -e "s/^trap -- '//" -e "s/' EXIT\$//")
    # The earlier trap still sees the test's exit status in $? (set +e:
    # under errexit the re-raised status would end the trap early).
    # shellcheck disable=SC2064,SC2154
    trap "pf_rc=\$?; set +e; postfix_stop; (exit \$pf_rc); ${prev:-:}" EXIT
    # Killed (ctest's timeout, a kill of the test): exit, so the EXIT trap
    # stops the instance.
    [[ -n $(trap -p TERM) ]] || trap 'exit 143' TERM
    [[ -n $(trap -p INT) ]] || trap 'exit 130' INT
    [[ -n $(trap -p HUP) ]] || trap 'exit 129' HUP
    # start runs the checks of "postfix check" itself (and creates the
    # queue's directories): no separate check.
    if ! postfix -c "$PF_CONF" start >"$PF_DIR/start.log" 2>&1; then
        postfix_log "the instance in $PF_DIR does not start:"
        cat "$PF_DIR/start.log" "$PF_DIR/maillog" >&2 2>/dev/null
        return 1
    fi
    # Up when master has its pid file and pickup its socket.
    local i
    for ((i = 0; i < 100; i++)); do
        [[ -s $PF_DIR/queue/pid/master.pid && -S $PF_DIR/queue/public/pickup ]] && return 0
        sleep 0.1
    done
    postfix_log "the instance in $PF_DIR did not come up"
    cat "$PF_DIR/maillog" >&2 2>/dev/null
    return 1
}

postfix_wait_mail() {
    local user=$1 secs=${2:-30} i f
    for ((i = 0; i < secs * 10; i++)); do
        for f in "$PF_MAILDIRS/$user/new/"*; do
            [[ -f $f ]] && { echo "$f"; return 0; }
        done
        sleep 0.1
    done
    postfix_log "no mail for $user@$PF_DOMAIN within $secs s; the instance's log:"
    tail -n 30 "$PF_DIR/maillog" >&2 2>/dev/null
    return 1
}

postfix_stop() {
    [[ -n $PF_DIR && -d $PF_DIR ]] || return 0
    local pid=""
    [[ -s $PF_DIR/queue/pid/master.pid ]] && pid=$(tr -d ' \n' < "$PF_DIR/queue/pid/master.pid")
    postfix -c "$PF_CONF" stop >/dev/null 2>&1 || true
    # master ends its children; wait for it, then make sure.
    local i
    for ((i = 0; i < 50; i++)); do
        [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
        postfix -c "$PF_CONF" abort >/dev/null 2>&1 || kill -9 "$pid" 2>/dev/null || true
    fi
    [[ -n ${PF_KEEP:-} ]] || rm -rf "$PF_DIR"
    PF_DIR=""
}
