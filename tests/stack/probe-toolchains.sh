# shellcheck shell=bash
# The toolchains of the probes not written in Rust, installed on demand by prereqs.sh and
# build-probes.sh: componentize-py (pinned, into .dev/venv) for Python probes, node/npm and
# each JavaScript probe's node_modules (`npm ci` from its package-lock.json).
# Source after lib.sh. Every function prints what is wrong and returns non-zero on failure.

componentize_py_bin() {
    printf '%s\n' "$DEV/venv/bin/componentize-py"
}

# Install componentize-py $COMPONENTIZE_PY_VERSION into .dev/venv unless it is there.
ensure_componentize_py() {
    local bin version
    bin="$(componentize_py_bin)"
    version="$("$bin" --version 2>/dev/null || true)"
    [[ "$version" == *" $COMPONENTIZE_PY_VERSION" ]] && return 0
    log "probe toolchains: installing componentize-py==$COMPONENTIZE_PY_VERSION into $DEV/venv"
    mkdir -p "$DEV"
    if ! { { [[ -x "$DEV/venv/bin/pip" ]] || python3 -m venv "$DEV/venv" >&2; } &&
        "$DEV/venv/bin/pip" install --quiet --disable-pip-version-check \
            "componentize-py==$COMPONENTIZE_PY_VERSION" >&2; }; then
        log "componentize-py: pip install componentize-py==$COMPONENTIZE_PY_VERSION into $DEV/venv failed (Python probes cannot be built without it)"
        return 1
    fi
    version="$("$bin" --version 2>/dev/null || true)"
    [[ "$version" == *" $COMPONENTIZE_PY_VERSION" ]] || {
        log "componentize-py: $bin reports '${version:-nothing}', expected $COMPONENTIZE_PY_VERSION"
        return 1
    }
}

# node >= NODE_MIN_MAJOR and npm on PATH.
check_node() {
    local major
    if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
        log "node/npm: not found; JavaScript probes need node $NODE_MIN_MAJOR or newer with npm (https://nodejs.org)"
        return 1
    fi
    major="$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)"
    if ((major < NODE_MIN_MAJOR)); then
        log "node: $(node --version) is too old; JavaScript probes need node $NODE_MIN_MAJOR or newer"
        return 1
    fi
}

# Written into node_modules after `npm ci`: a copy of the lock file it installed.
NPM_LOCK_STAMP=.sonde-package-lock.json

# `npm ci` in DIR unless node_modules already holds exactly its package-lock.json.
ensure_npm_deps() {
    local dir="$1" stamp="$1/node_modules/$NPM_LOCK_STAMP"
    [[ -f "$dir/package-lock.json" ]] || {
        log "$dir: no package-lock.json; run npm install there and commit the lock file"
        return 1
    }
    cmp -s "$dir/package-lock.json" "$stamp" && return 0
    check_node || return 1
    log "probe toolchains: npm ci in $dir"
    if ! (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >&2); then
        log "$dir: npm ci failed (JavaScript probes cannot be built without their node_modules)"
        return 1
    fi
    cp "$dir/package-lock.json" "$stamp"
}

# What the Python (an app.py) and JavaScript (a package.json) probe directories given, or
# all of those under probes/ and tests/probes/, need; false when something is missing.
ensure_probe_toolchains() {
    local ok=0 dir dirs=("$@") python=0 javascript=0
    if ((${#dirs[@]} == 0)); then
        for dir in "$ROOT"/probes/*/ "$ROOT"/tests/probes/*/; do dirs+=("${dir%/}"); done
    fi
    for dir in "${dirs[@]}"; do
        if [[ -f "$dir/app.py" ]]; then
            python=1
        elif [[ -f "$dir/package.json" ]]; then
            javascript=1
            ensure_npm_deps "$dir" || ok=1
        fi
    done
    if ((python)); then ensure_componentize_py || ok=1; fi
    if ((javascript)); then check_node || ok=1; fi
    return "$ok"
}
