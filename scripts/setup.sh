#!/usr/bin/env bash
# Installs the Debian packages faxfs needs to build, run and test.
# Idempotent: when everything is present it only asks dpkg and returns.
set -euo pipefail

packages=(
    build-essential cmake pkg-config
    ccache          # compiled objects kept between builds (scripts/build.sh)
    libfuse3-dev fuse3
    libtiff-dev libtiff-tools
    libspandsp-dev
    libcmocka-dev
    libpng-dev libjpeg-dev      # PNG/JPEG documents and page previews
    ghostscript     # PDF/PostScript documents and cover pages
    bubblewrap      # the sandbox every document is converted in
    clang libclang-rt-14-dev   # libFuzzer targets
    libre-dev       # SIP, SDP, RTP
    baresip-core    # an independent SIP user agent for interop tests
    sip-tester      # SIPp: floods and malformed calls against the SIP listener
    kamailio        # a real SIP registrar and proxy for the registration tests
    efax            # efix makes the sample document; efax is an interop peer
    util-linux      # mountpoint, setpriv, runuser
    iproute2        # ss, used by the interop tests
    procps psmisc
    python3         # strict format checks in the mounted tests
    qpdf poppler-utils  # fax.pdf checked by real PDF readers (qpdf --check, pdfinfo, pdftoppm)
    valgrind        # the leak check of a whole session
    libgmime-3.0-dev    # MIME mail: notifications, received faxes by mail
    postfix         # a private MTA instance for the mail tests (tests/lib/postfix.sh)
    sudo            # faxfs-mail: the MTA's pipe user runs it as root (docs/mail.md)
    libpq-dev       # the PostgreSQL store (--store postgresql://..., docs/postgresql.md)
    postgresql-15   # a private PostgreSQL for the store's tests (tests/lib/postgres.sh)
)

# The unprivileged user documents are converted as (faxfs --convert-user):
# a system user with no home and no login shell, and a group of its own.
ensure_convert_user() {
    getent passwd faxfs-convert >/dev/null && return 0
    local sudo=""
    [[ $(id -u) -eq 0 ]] || sudo=sudo
    echo "setup: creating the system user faxfs-convert"
    $sudo useradd --system --user-group --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin faxfs-convert
}

missing=()
for p in "${packages[@]}"; do
    status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
    [[ "$status" == "install ok installed" ]] || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
    ensure_convert_user
    exit 0
fi

echo "setup: installing ${missing[*]}"
sudo=""
if [[ $(id -u) -ne 0 ]]; then
    command -v sudo >/dev/null || { echo "setup: run as root or install sudo" >&2; exit 1; }
    sudo=sudo
fi
export DEBIAN_FRONTEND=noninteractive
# Postfix is only run as private instances by the tests: "No configuration"
# leaves /etc/postfix/main.cf absent, so no system-wide Postfix starts or
# listens on port 25.
echo "postfix postfix/main_mailer_type select No configuration" | $sudo debconf-set-selections
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
ensure_convert_user
