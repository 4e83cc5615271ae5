"""assay's agent on a remote host: runs commands and job processes, reads and writes files.

This package uses only the Python standard library, imports nothing from assay and runs on
any Python >= 3.7: assay ships it to the remote host as one zip
(``WORKDIR/bin/hostagent-HASH.pyz``, built byte for byte the same from the same sources by
:mod:`assay.transports.hostagent_pack`, where the package is named ``assay_hostagent``) and
starts it there over SSH, with no assay installed on that host. Each module has one job:

* :mod:`.protocol`: the frames, the protocol's version and constants;
* :mod:`.channel`: the SSH channel handed over by a connector (``SCM_RIGHTS``);
* :mod:`.connector`: finds or starts the session's daemon and hands it the channel;
* :mod:`.lockfile`: the name's lock, held by a connector and by a daemon removing its files;
* :mod:`.daemon`: the daemon's connections and requests (:mod:`.jobops`, :mod:`.fileops`);
* :mod:`.jobs`, :mod:`.spawn`, :mod:`.procscan`: jobs, how they start, their leftovers;
* :mod:`.files`: paths below a case's directory, what a run left; :mod:`.pool`: threads;
* :mod:`.main`: the command line.

``python3 -I hostagent.pyz connect NAME LINGER`` (started by assay through the short program
of :mod:`assay.transports.ssh_boot`, which checks the zip and keeps its modules compiled)
runs in one SSH exec channel. It finds the session's agent daemon (a Unix socket
``$TMPDIR/assay-UID/NAME.sock``, in a directory only this user may enter), starts it when
there is none, and hands the channel's two pipes over to it (``SCM_RIGHTS`` on the
socket): the daemon reads the requests and writes its answers on the channel itself, with no
process in between to wake for every message, and the connector only waits until the daemon
is done with the channel. (A daemon that does not take them, an older assay's still serving a
resumed session, gets the channel's bytes relayed.)
The daemon runs in a session of its own, so it and the jobs it started outlive the channel:
when the SSH connection drops, the jobs keep running, and assay, once reconnected, asks the
same daemon how they are doing (nothing is started twice: every request carries an id of
assay's, and a request seen before gets the answer it got then). When no assay has been
connected for LINGER seconds, the daemon kills every job it started (their process groups,
and what left a group, found by the token in its environment) and exits: a lost laptop
leaves no orphan behind. ``shutdown`` (at the end of a run) does the same at once.

The protocol: frames of a 4-byte big-endian length and a UTF-8 JSON object. Requests carry
``rid`` (assay's id) and ``op``; each gets one answer with the same ``rid`` and ``ok``
(``error`` and ``errno`` when it failed). The daemon also sends ``{"event": "exit", "job":
ID, "status": N}`` when a job ends (``N`` < 0: killed by signal ``-N``). File contents
travel base64-encoded.

Nothing is imported here: importing a module of the package (assay's client takes the
protocol's constants from :mod:`.protocol`) costs only that module and what it imports.
"""
