# Shared settings for the project's scripts. Source it; do not run it.
# Everything here can be overridden from the environment.

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export REPO_ROOT

: "${TICKETING_STATE_DIR:=$REPO_ROOT/.local}"
export TICKETING_STATE_DIR

# Ports: one the caller set wins; otherwise the one the private instance was
# given when first started (recorded in ports.env, it stays the same for the
# life of the state directory; see scripts/services); otherwise the default.
# The first sourcing in a process tree notes which ports the caller set, so a
# later sourcing (after scripts/services picked a port) does not mistake an
# earlier default for the caller's choice.
if [ -z "${TICKETING_PORTS_EXPLICIT+x}" ]; then
    TICKETING_PORTS_EXPLICIT="${TICKETING_PG_PORT:+pg}${TICKETING_REDIS_PORT:+ redis}"
    export TICKETING_PORTS_EXPLICIT
fi
case " $TICKETING_PORTS_EXPLICIT " in *" pg "*) ;; *) unset TICKETING_PG_PORT ;; esac
case " $TICKETING_PORTS_EXPLICIT " in *" redis "*) ;; *) unset TICKETING_REDIS_PORT ;; esac
if [ -f "$TICKETING_STATE_DIR/ports.env" ]; then
    # shellcheck source=/dev/null
    source "$TICKETING_STATE_DIR/ports.env"
fi
: "${TICKETING_PG_PORT:=55432}"
: "${TICKETING_REDIS_PORT:=56379}"
export TICKETING_PG_PORT TICKETING_REDIS_PORT

# Connection URLs for the services and the tests. Recomputed after
# scripts/services picks ports, unless set explicitly by the caller.
ticketing_urls() {
    export DATABASE_URL="${TICKETING_DATABASE_URL:-postgres://ticketing@127.0.0.1:$TICKETING_PG_PORT/ticketing}"
    export REDIS_URL="${TICKETING_REDIS_URL:-redis://127.0.0.1:$TICKETING_REDIS_PORT/}"
    # Tests create one database per test through this server-level URL.
    export TEST_DATABASE_URL="postgres://ticketing@127.0.0.1:$TICKETING_PG_PORT/postgres"
    export TEST_REDIS_URL="$REDIS_URL"
}
ticketing_urls

# The token signing secret: generated once per install into the state
# directory (mode 600), never taken from the source. An explicit JWT_SECRET
# in the environment wins.
if [ -z "${JWT_SECRET:-}" ]; then
    if [ ! -s "$TICKETING_STATE_DIR/jwt_secret" ]; then
        mkdir -p "$TICKETING_STATE_DIR"
        (umask 077 && od -An -tx1 -N32 /dev/urandom | tr -d ' \n' >"$TICKETING_STATE_DIR/jwt_secret")
    fi
    JWT_SECRET="$(cat "$TICKETING_STATE_DIR/jwt_secret")"
fi
export JWT_SECRET

# The key webhook endpoints' secrets are sealed with (32 bytes, base64): like
# the token secret, generated once per install, kept outside the database.
if [ -z "${WEBHOOK_SECRETS_KEY:-}" ]; then
    if [ ! -s "$TICKETING_STATE_DIR/webhook_secrets_key" ]; then
        mkdir -p "$TICKETING_STATE_DIR"
        (umask 077 && head -c 32 /dev/urandom | base64 >"$TICKETING_STATE_DIR/webhook_secrets_key")
    fi
    WEBHOOK_SECRETS_KEY="$(cat "$TICKETING_STATE_DIR/webhook_secrets_key")"
fi
export WEBHOOK_SECRETS_KEY

# The accounts tests' SMTP server (aiosmtpd), once scripts/test has
# installed it; an explicit AIOSMTPD_PYTHON wins.
if [ -z "${AIOSMTPD_PYTHON:-}" ] && [ -x "$TICKETING_STATE_DIR/venv-smtp/bin/python" ]; then
    export AIOSMTPD_PYTHON="$TICKETING_STATE_DIR/venv-smtp/bin/python"
fi

# Installs a pinned PyPI package into a private venv under .local when it is
# missing (or another version), and exports that venv's python as $4:
#   ensure_pypi <venv name> <package> <version> <variable> <what it is for>
ensure_pypi() {
    local venv="$TICKETING_STATE_DIR/$1" package=$2 version=$3 var=$4 why=$5
    if ! "$venv/bin/python" -c "import importlib.metadata as m, sys; sys.exit(m.version('$package') != '$version')" 2>/dev/null; then
        log "installing $package $version (PyPI) into $venv"
        command -v python3 >/dev/null || die "python3 is needed for $package ($why)"
        python3 -m venv "$venv" 2>/dev/null || {
            as_root apt-get install -y -q python3-venv >/dev/null
            python3 -m venv "$venv"
        }
        "$venv/bin/pip" install -q "$package==$version"
    fi
    export "$var=$venv/bin/python"
}

# aiosmtpd: the real SMTP server of the accounts tests.
AIOSMTPD_VERSION=1.4.6
ensure_aiosmtpd() {
    ensure_pypi venv-smtp aiosmtpd "$AIOSMTPD_VERSION" AIOSMTPD_PYTHON "the accounts tests' SMTP server"
}

# The official Standard Webhooks library: the webhook signature tests
# verify with it.
STANDARDWEBHOOKS_VERSION=1.3.0
if [ -z "${STANDARDWEBHOOKS_PYTHON:-}" ] && [ -x "$TICKETING_STATE_DIR/venv-webhooks/bin/python" ]; then
    export STANDARDWEBHOOKS_PYTHON="$TICKETING_STATE_DIR/venv-webhooks/bin/python"
fi
ensure_standardwebhooks() {
    ensure_pypi venv-webhooks standardwebhooks "$STANDARDWEBHOOKS_VERSION" STANDARDWEBHOOKS_PYTHON "the webhook signature tests"
}

# dkimpy (with PyNaCl for Ed25519 signatures): the mail tests verify the
# DKIM signatures crates/mail makes with it.
DKIMPY_VERSION=1.1.8
PYNACL_VERSION=1.6.2
if [ -z "${DKIMPY_PYTHON:-}" ] && [ -x "$TICKETING_STATE_DIR/venv-dkim/bin/python" ]; then
    export DKIMPY_PYTHON="$TICKETING_STATE_DIR/venv-dkim/bin/python"
fi
ensure_dkimpy() {
    ensure_pypi venv-dkim PyNaCl "$PYNACL_VERSION" DKIMPY_PYTHON "dkimpy's Ed25519 signatures"
    ensure_pypi venv-dkim dkimpy "$DKIMPY_VERSION" DKIMPY_PYTHON "the mail DKIM tests"
}

# The Python icalendar library: the mail tests parse the calendar files
# crates/mail attaches with it.
ICALENDAR_VERSION=7.3.2
if [ -z "${ICALENDAR_PYTHON:-}" ] && [ -x "$TICKETING_STATE_DIR/venv-icalendar/bin/python" ]; then
    export ICALENDAR_PYTHON="$TICKETING_STATE_DIR/venv-icalendar/bin/python"
fi
ensure_icalendar() {
    ensure_pypi venv-icalendar icalendar "$ICALENDAR_VERSION" ICALENDAR_PYTHON "the mail calendar tests"
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

log() { printf '\033[1m==>\033[0m %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }
as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
        die "need root to run: $*"
    fi
}
