#!/bin/bash
# Runs inside a booted Debian 12 container (systemd as PID 1) as a oneshot unit:
# install, run, reload, upgrade, stop and purge the web4-node package. Writes
# its log to /out/log and PASS or FAIL to /out/result, then powers off.
set -uo pipefail
exec >/out/log 2>&1
fail() { echo "FAIL: $*"; echo FAIL >/out/result; systemctl --no-block poweroff; exit 1; }
ok() { echo "ok   $*"; }
wait_active() {
    for _ in $(seq 1 100); do
        [ "$(systemctl is-active web4d)" = active ] && return 0
        sleep 0.2
    done
    systemctl status web4d --no-pager; journalctl -u web4d --no-pager | tail -40
    return 1
}
http_get() { # PATH → body (bash /dev/tcp; minbase has no curl)
    exec 3<>/dev/tcp/127.0.0.1/8000 || return 1
    printf 'GET %s HTTP/1.0\r\nHost: localhost\r\n\r\n' "$1" >&3
    cat <&3
    exec 3>&-
}

echo "== install the previous package build"
dpkg -i /root/pkgs/prev.deb || fail "dpkg -i prev"
wait_active || fail "web4d did not become active"
ok "unit active after install (Type=notify: READY=1 was sent)"
[ -s /var/lib/web4/web4.db ] || fail "no identity created by postinst"
id web4 | grep -q '(tss)' || fail "web4 is not in group tss"
ok "system user web4 (in tss), identity created on first install"
NODE_DB_SUM="$(ls -i /var/lib/web4/keys/node.key)"
http_get /health | grep -q '"status":"ok"' || fail "/health"
http_get /ready | grep -q '200 OK' || fail "/ready"
ok "/health and /ready answer"

echo "== the CLI mints an LCT"
web4 keygen --out /root/me.key >/dev/null || fail keygen
web4 --key /root/me.key mint --entity-type human | tee /root/mint.txt | grep -q active || fail "mint"
ok "web4 mint"
web4 --key /var/lib/web4/keys/admin.key atp pool >/dev/null || fail "atp pool"

echo "== structured journal fields"
journalctl -u web4d -o json --no-pager | grep -q '"EVENT":"node_ready"' || {
    journalctl -u web4d -o json --no-pager | grep -i ready | head -3; fail "no EVENT=node_ready in the journal"; }
journalctl -u web4d -o json --no-pager | grep -q '"EVENT":"lct_minted"' || fail "no EVENT=lct_minted in the journal"
ok "journalctl -u web4d -o json has the daemon's fields"

echo "== tpm2 keystore without a TPM: the operator is told what to do"
out="$(runuser -u web4 -- web4d --hsm-type tpm2 tpm status 2>&1)" && fail "tpm status without a TPM succeeded"
echo "$out" | grep -q "no TPM device at /dev/tpmrm0" || fail "tpm status said: $out"
ok "web4d tpm status: $(echo "$out" | head -c 90)…"

echo "== sandbox score"
systemd-analyze security web4d.service --no-pager | tail -1 | tee /root/score.txt
score="$(grep -o 'exposure level for web4d.service: [0-9.]*' /root/score.txt | awk '{print $NF}')"
awk -v s="$score" 'BEGIN { exit !(s <= 2.0) }' || fail "exposure $score > 2.0"
ok "systemd-analyze security: $score"

echo "== reload"
sed -i 's/^#log_level = "info"/log_level = "debug"/' /etc/web4/web4d.toml
systemctl reload web4d || fail "reload"
sleep 1
journalctl -u web4d -o json --no-pager | grep -q '"EVENT":"config_reloaded"' || fail "no config_reloaded"
ok "systemctl reload re-read the configuration"
echo 'port = "not a number"' >>/etc/web4/web4d.toml
systemctl reload web4d && fail "a broken configuration was accepted by reload"
[ "$(systemctl is-active web4d)" = active ] || fail "a refused reload stopped the node"
ok "a broken configuration is refused by reload and the node keeps running"
sed -i '$d' /etc/web4/web4d.toml

echo "== watchdog: still the same process after WatchdogSec"
pid="$(systemctl show -p MainPID --value web4d)"
sleep 35
[ "$(systemctl show -p MainPID --value web4d)" = "$pid" ] || fail "restarted (watchdog not pinged?)"
[ "$(systemctl show -p NRestarts --value web4d)" = 0 ] || fail "NRestarts > 0"
ok "watchdog pinged for 35 s (WatchdogSec=30)"

echo "== upgrade"
dpkg -i /root/pkgs/new.deb || fail "dpkg -i new"
wait_active || fail "not active after upgrade"
[ "$(ls -i /var/lib/web4/keys/node.key)" = "$NODE_DB_SUM" ] || fail "identity replaced on upgrade"
grep -q '^log_level = "debug"' /etc/web4/web4d.toml || fail "conffile change lost on upgrade"
dpkg -s web4-node | grep -q "Version: $(cat /root/pkgs/new.version)" || fail "version after upgrade"
web4 get "$(web4 --key /root/me.key id)" | grep -q active || fail "the minted LCT is gone after the upgrade"
ok "upgraded in place, identity and configuration kept"

echo "== stop"
systemctl stop web4d || fail "stop"
status="$(systemctl show -p ExecMainStatus --value web4d)"
[ "$status" = 0 ] || fail "exit status $status"
journalctl -u web4d -o json --no-pager | grep -q '"EVENT":"shutdown_complete"' || fail "no clean shutdown logged"
ok "clean stop (exit 0, shutdown_complete)"

echo "== purge"
dpkg --purge web4-node || fail "purge"
[ ! -e /etc/systemd/system/multi-user.target.wants/web4d.service ] || fail "unit still enabled"
[ ! -e /usr/lib/systemd/system/web4d.service ] && [ ! -e /lib/systemd/system/web4d.service ] || fail "unit file left"
[ -e /var/lib/web4/web4.db ] || fail "purge removed the identity"
ok "purged; the identity in /var/lib/web4 is kept"

echo PASS >/out/result
systemctl --no-block poweroff
