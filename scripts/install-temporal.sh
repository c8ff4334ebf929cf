#!/usr/bin/env bash
# Installs the Temporal CLI (which embeds the `temporal server start-dev` dev server) into a cache dir outside git.
#
#   scripts/install-temporal.sh            # installs once, prints the binary's path on stdout
#
# Location: ${ET_CACHE_DIR:-$HOME/.cache/execution-tracker}/bin/temporal (skipped when it already exists).
# Needs Go (1.25+) and access to the Go module proxy. Pinned to v1.5.1: later CLI versions carry a `replace`
# directive in go.mod, which `go install pkg@version` refuses.
set -euo pipefail

TEMPORAL_CLI_VERSION="${TEMPORAL_CLI_VERSION:-v1.5.1}"
CACHE_DIR="${ET_CACHE_DIR:-${HOME}/.cache/execution-tracker}"
BIN_DIR="${CACHE_DIR}/bin"
BIN="${BIN_DIR}/temporal"

if [[ -x "${BIN}" ]]; then
  echo "${BIN}"
  exit 0
fi

if ! command -v go >/dev/null 2>&1; then
  echo "install-temporal: 'go' is not on PATH; install Go 1.25+ (or put a temporal binary at ${BIN})" >&2
  exit 1
fi

mkdir -p "${BIN_DIR}"
# Build into a private directory and move into place at the end, so a concurrent or interrupted run never
# leaves a half-written binary at ${BIN}.
TMP_BIN_DIR="$(mktemp -d "${BIN_DIR}/.install.XXXXXX")"
trap 'rm -rf "${TMP_BIN_DIR}"' EXIT

echo "install-temporal: go install github.com/temporalio/cli/cmd/temporal@${TEMPORAL_CLI_VERSION} (takes a few minutes the first time)" >&2
GOBIN="${TMP_BIN_DIR}" go install "github.com/temporalio/cli/cmd/temporal@${TEMPORAL_CLI_VERSION}" >&2

mv -f "${TMP_BIN_DIR}/temporal" "${BIN}"
echo "install-temporal: installed $("${BIN}" --version 2>/dev/null || echo temporal)" >&2
echo "${BIN}"
