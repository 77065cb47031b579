#!/usr/bin/env python3
"""The seed's SPLIT-MERGE workflow, with local commands standing in for VM migrations.

On each "cluster", VMs start on host 0. SPLIT: even VMs go to host 2 and odd VMs to host
1, the two groups in parallel, one VM after another within a group. MERGE: all come back
to host 0 the same way. Clusters run in parallel. Each migration is a Local action that
prints what it moved and sleeps a little, so the timing structure shows in the Report.
"""

from execo import Local, ParallelActions, Report, SequentialActions

clusters = {"paravance": 4, "grisou": 3}


def migrate(vm, source, destination, phase):
    return Local("sleep 0.1; echo %s vm-%d %s '->' %s" % (phase, vm, source, destination))


def one_way(vms, source, destination, phase):
    return SequentialActions([migrate(vm, source, destination, phase) for vm in vms])


cluster_actions = []
for cluster, vm_count in clusters.items():
    hosts = ["%s-%d" % (cluster, i) for i in range(3)]
    even = [vm for vm in range(vm_count) if vm % 2 == 0]
    odd = [vm for vm in range(vm_count) if vm % 2 == 1]
    split = ParallelActions([one_way(even, hosts[0], hosts[2], "SPLIT"), one_way(odd, hosts[0], hosts[1], "SPLIT")])
    merge = ParallelActions([one_way(even, hosts[2], hosts[0], "MERGE"), one_way(odd, hosts[1], hosts[0], "MERGE")])
    cluster_actions.append(SequentialActions([split, merge], name="migrations on %s" % cluster))

workflow = ParallelActions(cluster_actions, name="split-merge")
workflow.run()
print(Report([workflow]).to_string())
for process in workflow.processes:
    print(process.stdout, end="")
raise SystemExit(0 if workflow.ok else 1)
