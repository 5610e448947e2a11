#!/bin/sh
# virt-launcher's guest-console-log container (KubeVirt's virt-tail), without a Node runtime:
# QEMU writes the guest's serial console to a file in the pod's private emptyDir; this streams it
# to the container's log (kubectl logs POD -c guest-console-log) until the compute container's
# launcher has exited: the launcher creates the console file and then writes its pid beside it,
# first thing. GNU tail --pid reads the file once more after that process is gone, so the last
# lines are never lost.
set -eu
file="${VIRT_LAUNCHER_CONSOLE_LOG:?VIRT_LAUNCHER_CONSOLE_LOG is not set: this runs only in a virt-launcher pod}"
while [ ! -s "$file.pid" ]; do sleep 0.1; done
exec tail -c +1 --follow=name --sleep-interval=0.2 --pid="$(cat "$file.pid")" "$file"
