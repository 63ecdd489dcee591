"""Drives the cbr-gateway simulator with Huawei's official Python SDK.

Usage: official_sdk.py ENDPOINT AK SK [BARE_RESTORE_ENDPOINT]

BARE_RESTORE_ENDPOINT, when given, is a second simulator run with
--sim-restore-without-job-id: its restores answer a bare 202, as the documents say.

Run by tests/gateway/official_sdk.rs against `cbr-gateway simulator` with signature
checking on. Every request below is SDK-HMAC-SHA256 signed by the SDK itself.
Exits non-zero (with a traceback) on the first failed expectation.
"""

import sys
import time

from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.exceptions import exceptions
from huaweicloudsdkcore.http.http_config import HttpConfig
from huaweicloudsdkcbr.v1 import (
    BackupRestore,
    BackupRestoreReq,
    BackupRestoreServerMapping,
    CbrClient,
    CheckpointParam,
    CreateCheckpointRequest,
    DeleteBackupRequest,
    ListBackupsRequest,
    ListOpLogsRequest,
    ListPoliciesRequest,
    ListVaultRequest,
    Resource,
    RestoreBackupRequest,
    ShowBackupRequest,
    ShowCheckpointRequest,
    ShowOpLogRequest,
    ShowPolicyRequest,
    ShowVaultRequest,
    VaultBackup,
    VaultBackupReq,
)

PROJECT = "4229d7a45436489f8c3dc2b1d35d4987"
VAULT = "3b5816b5-f29c-4172-9d9a-76c719a659ce"
SERVER = "94eba8b2-acc9-4d82-badc-127144cc5526"
SEED_CHECKPOINT = "8b0851a8-adf3-4f4c-a914-dead08bf9664"
SEED_BACKUP = "6df2b54c-dd62-4059-a07c-1b8f24f2725d"
PROVIDER_SERVER = "0daac4c5-6707-4851-97ba-169e36266b66"
PROVIDER_DISK = "d1603440-187d-4516-af25-121250c7cc97"
# The simulator's seeds for vaults, policies and operation logs (LIFECYCLE.md).
DOCUMENTED_VAULT = "a335f9e1-1628-4c64-a7be-38656e5ec19c"
DOCUMENTED_VAULT_SHOWN = "2b076f26-391f-40fa-bf71-a798940faccf"
DOCUMENTED_POLICY = "cbb3ce6f-3332-4e7c-b98e-77290d8471ff"
DAILY_POLICY = "5c8b1c52-7a3e-4d3f-9a57-2f0e6a2b7c11"
REPLICATION_POLICY = "b1d4e2c0-0a8e-4cfa-bb6f-3cb9d0b1a001"
COUNT_POLICY = "e2a9c7d4-51b6-4f08-a3c2-8d7e6f5a4b10"
DOCUMENTED_LOG = "4827f2da-b008-4507-ab7d-42d0df5ed912"


def client(endpoint, ak, sk):
    cred = BasicCredentials(ak=ak, sk=sk, project_id=PROJECT)
    cfg = HttpConfig.get_default_config()
    cfg.timeout = (5, 10)
    # No with_region(): that would make the SDK ask IAM for the project id.
    return (
        CbrClient.new_builder()
        .with_http_config(cfg)
        .with_credentials(cred)
        .with_endpoint(endpoint)
        .build()
    )


def main():
    endpoint, ak, sk = sys.argv[1], sys.argv[2], sys.argv[3]
    bare_restore_endpoint = sys.argv[4] if len(sys.argv) > 4 else None
    cbr = client(endpoint, ak, sk)

    # Create: the seed request of the API documents, plus resource_details.
    body = VaultBackupReq(
        checkpoint=VaultBackup(
            vault_id=VAULT,
            parameters=CheckpointParam(
                auto_trigger=False,
                description="backup_description",
                incremental=True,
                name="sdk_backup",
                resources=[SERVER],
                resource_details=[Resource(id=SERVER, name="ecs-1f0f-0002", type="OS::Nova::Server")],
            ),
        )
    )
    created = cbr.create_checkpoint(CreateCheckpointRequest(body=body)).checkpoint
    assert created.status == "protecting", created.status
    assert created.vault.id == VAULT
    assert created.vault.resources[0].id == SERVER
    assert created.vault.resources[0].resource_size == "40", repr(created.vault.resources[0].resource_size)
    assert created.extra_info.name == "sdk_backup"
    print("create_checkpoint ->", created.id, created.status)

    # Show until available.
    deadline = time.time() + 30
    while True:
        shown = cbr.show_checkpoint(ShowCheckpointRequest(checkpoint_id=created.id)).checkpoint
        if shown.status == "available":
            break
        assert shown.status == "protecting", shown.status
        assert time.time() < deadline, "checkpoint never became available"
        time.sleep(0.2)
    assert shown.vault.resources[0].protect_status == "available"
    print("show_checkpoint ->", shown.status)

    # List with filters: this checkpoint's backup.
    listed = cbr.list_backups(ListBackupsRequest(checkpoint_id=created.id, show_replication=True))
    assert listed.count == 1, listed.count
    backup = listed.backups[0]
    assert backup.status == "available" and backup.checkpoint_id == created.id
    assert backup.resource_type == "OS::Nova::Server"

    # List with filters and paging: every page, count is the total, no repeats.
    first = cbr.list_backups(
        ListBackupsRequest(limit=7, offset=0, resource_type="OS::Nova::Server", status="available",
                           sort="created_at:desc")
    )
    total = first.count
    assert total > 7, total
    seen = set()
    offset = 0
    while offset < total:
        page = cbr.list_backups(
            ListBackupsRequest(limit=50, offset=offset, resource_type="OS::Nova::Server", status="available")
        )
        assert page.count == total
        for b in page.backups:
            assert b.resource_type == "OS::Nova::Server" and b.status == "available"
            assert b.id not in seen
            seen.add(b.id)
        offset += 50
    assert len(seen) == total, (len(seen), total)
    print("list_backups ->", total, "server backups in", (total + 49) // 50, "pages")

    # Show: the document's backup and the new one with its disk child.
    seed = cbr.show_backup(ShowBackupRequest(backup_id=SEED_BACKUP)).backup
    assert seed.name == "backup_name" and seed.resource_size == 40
    assert seed.enterprise_project_id == "0"
    assert seed.children[0].parent_id == SEED_BACKUP
    # The SDK's model reads the field Huawei added since the documents.
    assert seed.scheduled_operation_id == DAILY_POLICY, seed.scheduled_operation_id
    assert seed.children[0].scheduled_operation_id == DAILY_POLICY
    new = cbr.show_backup(ShowBackupRequest(backup_id=backup.id)).backup
    assert len(new.children) == 1 and new.children[0].resource_type == "OS::Cinder::Volume"
    print("show_backup ->", seed.status, new.status)

    # A missing backup: 404 with upstream's error code and a request id.
    try:
        cbr.show_backup(ShowBackupRequest(backup_id="missing-backup"))
        raise AssertionError("expected a 404")
    except exceptions.ClientRequestException as e:
        assert e.status_code == 404, e.status_code
        assert e.error_code == "BackupService.6200", e.error_code
        assert e.request_id, "X-Request-Id"
        print("missing backup ->", e.status_code, e.error_code, e.request_id)

    lifecycle(cbr, created.id, backup.id)
    restore_and_delete(cbr, created.id, backup.id)
    if bare_restore_endpoint:
        failing_restore_without_job_id(client(bare_restore_endpoint, ak, sk))
    two_regions(endpoint, ak, sk)

    # A wrong secret key: 401 APIGW.0301.
    try:
        client(endpoint, ak, sk + "-wrong").show_backup(ShowBackupRequest(backup_id=SEED_BACKUP))
        raise AssertionError("expected a 401")
    except exceptions.ClientRequestException as e:
        assert e.status_code == 401, e.status_code
        assert e.error_code == "APIGW.0301", e.error_code
        print("wrong SK ->", e.status_code, e.error_code)

    print("official SDK: all checks passed")


def wait_for(what, check, seconds=30):
    """Polls `check` until it returns a true value (then returns it)."""
    deadline = time.time() + seconds
    while True:
        got = check()
        if got:
            return got
        assert time.time() < deadline, what
        time.sleep(0.1)


def log_of(cbr, operation_type, backup_id):
    """The operation log of `operation_type` about `backup_id`, if listed."""
    logs = cbr.list_op_logs(ListOpLogsRequest(operation_type=operation_type, limit=100)).operation_logs
    for log in logs:
        info = getattr(log.extra_info, operation_type)
        if info is not None and info.backup_id == backup_id:
            return log
    return None


def restore_and_delete(cbr, checkpoint_id, backup_id):
    """RestoreBackup and DeleteBackup (LIFECYCLE.md §3, §4) through the SDK's models:
    the 202 and 204 answers, the backup's transitions, their operation logs."""
    shown = cbr.show_backup(ShowBackupRequest(backup_id=backup_id)).backup
    disk = shown.children[0]
    restore = BackupRestoreReq(
        restore=BackupRestore(
            server_id=SERVER,
            mappings=[BackupRestoreServerMapping(backup_id=disk.id, volume_id=disk.resource_id)],
            power_on=True,
        )
    )
    # A server restore without its disk mappings is refused.
    expect_400(
        lambda: cbr.restore_backup(
            RestoreBackupRequest(backup_id=backup_id, body=BackupRestoreReq(restore=BackupRestore(server_id=SERVER)))
        )
    )
    expect_404(
        lambda: cbr.restore_backup(RestoreBackupRequest(backup_id="missing-backup", body=restore)),
        "BackupService.6200",
    )
    accepted = cbr.restore_backup(RestoreBackupRequest(backup_id=backup_id, body=restore))
    assert accepted.status_code == 202, accepted.status_code
    # The simulator's default answer is terraform's {"job_id": …}, which the SDK's
    # RestoreBackupResponse has no field for: it is read, and ignored.
    job_id = accepted.to_json_object()["job_id"]
    assert cbr.show_backup(ShowBackupRequest(backup_id=backup_id)).backup.status == "restoring"
    # One restore of a backup at a time.
    expect_error(
        lambda: cbr.restore_backup(RestoreBackupRequest(backup_id=backup_id, body=restore)),
        400,
        "BackupService.2010",
    )
    log = wait_for("restore log listed", lambda: log_of(cbr, "restore", backup_id))
    assert log.id == job_id, (log.id, job_id)
    assert log.extra_info.restore.target_resource_id == SERVER
    done = wait_for(
        "restore succeeded",
        lambda: (lambda l: l if l.status == "success" else None)(
            cbr.show_op_log(ShowOpLogRequest(operation_log_id=log.id)).operation_log
        ),
    )
    assert done.extra_info.common.progress == 100 and done.ended_at
    assert cbr.show_backup(ShowBackupRequest(backup_id=backup_id)).backup.status == "available"
    print("restore_backup ->", accepted.status_code, "restoring ->", done.status)

    deleted = cbr.delete_backup(DeleteBackupRequest(backup_id=backup_id))
    assert deleted.status_code == 204, deleted.status_code
    assert cbr.show_backup(ShowBackupRequest(backup_id=backup_id)).backup.status == "deleting"
    expect_error(lambda: cbr.delete_backup(DeleteBackupRequest(backup_id=backup_id)), 400, "BackupService.6201")

    def gone():
        try:
            cbr.show_backup(ShowBackupRequest(backup_id=backup_id))
            return False
        except exceptions.ClientRequestException as e:
            assert e.status_code == 404 and e.error_code == "BackupService.6200", e.error_code
            return True

    wait_for("backup gone", gone)
    # Its checkpoint had no other backup: it is gone too.
    expect_404(lambda: cbr.show_checkpoint(ShowCheckpointRequest(checkpoint_id=checkpoint_id)), "BackupService.6217")
    log = wait_for("delete log listed", lambda: log_of(cbr, "delete", backup_id))
    assert log.status == "success", log.status
    print("delete_backup ->", deleted.status_code, "deleting -> gone, delete log", log.status)


def failing_restore_without_job_id(cbr):
    """A restore answered as the documents say (202, no body) onto a target the
    simulator fails (`sim-error…`): the SDK takes the bare 202, and show_backup and
    list_op_logs see it run and end failed with BackupService.2008."""
    since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 1))
    disk = cbr.show_backup(ShowBackupRequest(backup_id=SEED_BACKUP)).backup.children[0]
    restore = BackupRestoreReq(
        restore=BackupRestore(
            server_id="sim-error-server",
            mappings=[BackupRestoreServerMapping(backup_id=disk.id, volume_id=disk.resource_id)],
        )
    )
    accepted = cbr.restore_backup(RestoreBackupRequest(backup_id=SEED_BACKUP, body=restore))
    assert accepted.status_code == 202, accepted.status_code
    assert not accepted.raw_content, accepted.raw_content
    assert cbr.show_backup(ShowBackupRequest(backup_id=SEED_BACKUP)).backup.status == "restoring"

    def ended():
        # A start time leaves out the documents' seeded restore log.
        logs = cbr.list_op_logs(ListOpLogsRequest(operation_type="restore", start_time=since)).operation_logs
        assert len(logs) == 1, logs
        return logs[0] if logs[0].status not in ("waiting", "running") else None

    log = wait_for("restore ended", ended)
    assert log.status == "failed", log.status
    assert log.error_info.code == "BackupService.2008", log.error_info
    assert log.extra_info.restore.target_resource_id == "sim-error-server"
    assert log.extra_info.restore.backup_id == SEED_BACKUP
    assert cbr.show_op_log(ShowOpLogRequest(operation_log_id=log.id)).operation_log.status == "failed"
    assert cbr.show_backup(ShowBackupRequest(backup_id=SEED_BACKUP)).backup.status == "available"
    print("restore_backup without job_id ->", accepted.status_code, "restoring ->", log.status, log.error_info.code)


def two_regions(endpoint, ak, sk):
    """The simulator's second region, at its own endpoint (the first's port on
    127.0.0.2), as an SDK configured per region reaches it: its own data."""
    second = endpoint.replace("127.0.0.1", "127.0.0.2")
    assert second != endpoint, endpoint
    first_count = client(endpoint, ak, sk).list_backups(ListBackupsRequest(limit=1)).count
    other = client(second, ak, sk)
    second_count = other.list_backups(ListBackupsRequest(limit=1)).count
    assert first_count != second_count, (first_count, second_count)
    # The documents' objects are seeded in every region.
    assert other.show_backup(ShowBackupRequest(backup_id=SEED_BACKUP)).backup.id == SEED_BACKUP
    print("two regions ->", first_count, "and", second_count, "backups")


def expect_error(call, status, code):
    """`call` fails with upstream's HTTP status and error code, and a request id."""
    try:
        call()
    except exceptions.ClientRequestException as e:
        assert e.status_code == status, (e.status_code, e.error_code, e.error_msg)
        assert e.error_code == code, (e.error_code, e.error_msg)
        assert e.request_id, "X-Request-Id"
        return e
    raise AssertionError("expected %d %s" % (status, code))


def expect_404(call, code):
    return expect_error(call, 404, code)


def expect_400(call):
    return expect_error(call, 400, "BackupService.9900")


def lifecycle(cbr, checkpoint_id, backup_id):
    """Vaults, policies and operation logs (LIFECYCLE.md), through the SDK's models."""
    vaults(cbr)
    policies(cbr)
    operation_logs(cbr, checkpoint_id, backup_id)


def vaults(cbr):
    # list_vault by name: the example vault, its billing computed from the two
    # 40 GB server backups it now holds (the document's and the one above).
    named = cbr.list_vault(ListVaultRequest(name="vault-be94"))
    assert named.count == 1, named.count
    vault = named.vaults[0]
    assert vault.id == VAULT and vault.project_id == PROJECT
    assert vault.provider_id == PROVIDER_SERVER
    assert vault.billing.status == "available" and vault.billing.object_type == "server"
    assert vault.billing.spec_code == "vault.backup.server.normal"
    assert vault.billing.allocated == 40, vault.billing.allocated
    assert vault.billing.used == 2 * 40 * 1024, vault.billing.used
    assert vault.billing.size >= vault.billing.allocated
    assert len(vault.resources) == 1
    server = vault.resources[0]
    assert server.id == SERVER and server.type == "OS::Nova::Server" and server.name == "ecs-1f0f-0002"
    assert (server.size, server.backup_count, server.backup_size) == (40, 2, 2 * 40 * 1024), server
    assert server.protect_status == "available" and server.auto_protect is True
    assert vault.enterprise_project_id == "0" and vault.created_at == "2020-02-05T10:38:34.209782"

    # Every vault page by page: the simulator's five and the documents' two.
    everything = cbr.list_vault(ListVaultRequest())
    total = everything.count
    assert total == len(everything.vaults) == 7, total
    assert (everything.limit, everything.offset) == (1000, 0)
    all_ids = [v.id for v in everything.vaults]
    assert DOCUMENTED_VAULT in all_ids and DOCUMENTED_VAULT_SHOWN in all_ids
    seen = []
    offset = 0
    while offset < total:
        page = cbr.list_vault(ListVaultRequest(limit=2, offset=offset))
        assert page.count == total and page.limit == 2 and page.offset == offset
        seen += [v.id for v in page.vaults]
        offset += 2
    assert seen == all_ids, (seen, all_ids)

    # A filter with paging: count is every match, the page a slice of them.
    servers = cbr.list_vault(ListVaultRequest(object_type="server"))
    server_ids = [v.id for v in servers.vaults]
    assert servers.count == 5 and all(v.billing.object_type == "server" for v in servers.vaults)
    page = cbr.list_vault(ListVaultRequest(object_type="server", limit=2, offset=1))
    assert page.count == 5 and [v.id for v in page.vaults] == server_ids[1:3], page
    past = cbr.list_vault(ListVaultRequest(object_type="server", limit=2, offset=5))
    assert past.count == 5 and past.vaults == [], past

    # The other filters.
    by_resource = cbr.list_vault(ListVaultRequest(object_type="server", resource_ids="nope," + SERVER))
    assert [v.id for v in by_resource.vaults] == [VAULT], by_resource
    disks = cbr.list_vault(ListVaultRequest(object_type="disk"))
    assert disks.count == 1 and disks.vaults[0].billing.spec_code == "vault.backup.volume.normal"
    assert disks.vaults[0].provider_id == PROVIDER_DISK
    by_ids = cbr.list_vault(ListVaultRequest(id=[VAULT, disks.vaults[0].id, DOCUMENTED_VAULT]))
    assert sorted(v.id for v in by_ids.vaults) == sorted([VAULT, disks.vaults[0].id, DOCUMENTED_VAULT])
    daily = cbr.list_vault(ListVaultRequest(policy_id=DAILY_POLICY))
    # Every vault of the simulator's own but the volumes' (kept by count).
    assert daily.count == 4 and VAULT in [v.id for v in daily.vaults]
    assert cbr.list_vault(ListVaultRequest(policy_id=COUNT_POLICY)).count == 1
    assert DOCUMENTED_VAULT not in [v.id for v in daily.vaults]
    assert cbr.list_vault(ListVaultRequest(policy_id=REPLICATION_POLICY)).vaults[0].id == VAULT
    assert cbr.list_vault(ListVaultRequest(cloud_type="public", protect_type="backup")).count == 7
    assert cbr.list_vault(ListVaultRequest(status="available", enterprise_project_id="0")).count == 7
    assert cbr.list_vault(ListVaultRequest(enterprise_project_id="all_granted_eps")).count == 7
    assert cbr.list_vault(ListVaultRequest(name="no-such-vault")).count == 0

    # OTC's shape: the number 0 (the SDK reads it as "0"), +00:00 times, a
    # tag without value, no null billing fields.
    otc = cbr.list_vault(ListVaultRequest(name="vault-servers-test")).vaults[0]
    assert otc.enterprise_project_id in ("0", 0), otc.enterprise_project_id
    assert otc.created_at.endswith("+00:00"), otc.created_at
    assert otc.billing.order_id is None and otc.billing.storage_unit is None
    assert [(t.key, t.value) for t in otc.tags] == [("owner", "simulator"), ("scratch", None)]

    # show_vault: the documents' shown example, exactly.
    shown = cbr.show_vault(ShowVaultRequest(vault_id=DOCUMENTED_VAULT_SHOWN)).vault
    assert shown.name == "sdk-vault1595581958" and shown.auto_bind is True and shown.auto_expand is False
    assert shown.created_at == "2020-07-24T09:12:49.491874" and shown.enterprise_project_id == "0"
    assert shown.user_id == "aa2999fa5ae640f28926f8fd79188934" and shown.description is None
    assert [(t.key, t.value) for t in shown.tags] == [("fds", None)]
    assert shown.resources == []
    b = shown.billing
    assert (b.allocated, b.size, b.used, b.charging_mode, b.consistent_level) == (
        0, 40, 0, "post_paid", "crash_consistent"), b
    assert b.product_id is None and b.order_id is None and b.frozen_scene is None
    listed = cbr.show_vault(ShowVaultRequest(vault_id=DOCUMENTED_VAULT)).vault
    assert listed.name == "vault-8538" and listed.billing.size == 100 and listed.tags == []
    assert cbr.show_vault(ShowVaultRequest(vault_id=VAULT)).vault.billing.used == vault.billing.used

    expect_404(lambda: cbr.show_vault(ShowVaultRequest(vault_id="no-such-vault")), "BackupService.6105")
    expect_400(lambda: cbr.list_vault(ListVaultRequest(limit=0)))
    expect_400(lambda: cbr.list_vault(ListVaultRequest(limit=1001)))
    expect_400(lambda: cbr.list_vault(ListVaultRequest(offset=-1)))
    expect_400(lambda: cbr.list_vault(ListVaultRequest(object_type="tape")))
    expect_400(lambda: cbr.list_vault(ListVaultRequest(cloud_type="private")))
    print("list_vault/show_vault ->", total, "vaults,", vault.billing.used, "MB used in", VAULT)


def policies(cbr):
    everything = cbr.list_policies(ListPoliciesRequest())
    assert everything.count == 4, everything.count
    assert [p.id for p in everything.policies] == [DOCUMENTED_POLICY, DAILY_POLICY, REPLICATION_POLICY, COUNT_POLICY]

    # The vault's policies: its daily backups and its replication.
    bound = cbr.list_policies(ListPoliciesRequest(vault_id=VAULT))
    assert bound.count == 2, bound.count
    assert {p.operation_type for p in bound.policies} == {"backup", "replication"}
    backup = cbr.list_policies(ListPoliciesRequest(vault_id=VAULT, operation_type="backup")).policies
    assert [p.id for p in backup] == [DAILY_POLICY]
    daily = backup[0]
    assert daily.enabled is True and daily.policy_type == "custom_policy"
    assert VAULT in [a.vault_id for a in daily.associated_vaults] and len(daily.associated_vaults) == 4
    assert daily.trigger.type == "time" and daily.trigger.name == "default"
    assert daily.trigger.properties.pattern == ["FREQ=DAILY;INTERVAL=1;BYHOUR=18;BYMINUTE=00"]
    assert daily.trigger.properties.start_window_minutes == 60
    od = daily.operation_definition
    assert (od.retention_duration_days, od.max_backups, od.day_backups, od.timezone) == (30, -1, 7, "UTC+08:00")
    rules = od.advanced_retention_rules
    assert rules.weekly_retention_rules.days_of_week == ["SU"]
    assert rules.monthly_retention_rules.days_of_month == [1, -1]
    assert rules.yearly_retention_rules.retention_duration_periods == 1
    replication = cbr.list_policies(ListPoliciesRequest(operation_type="replication")).policies
    assert [p.id for p in replication] == [REPLICATION_POLICY]
    assert replication[0].operation_definition.destination_region == "region2"
    assert replication[0].associated_vaults[0].vault_id == VAULT
    assert replication[0].associated_vaults[0].destination_vault_id == "0ca3eb86-8800-46da-9c37-9d657a825274"
    assert cbr.list_policies(ListPoliciesRequest(vault_id=DOCUMENTED_VAULT)).count == 0

    # show_policy: the documents' policy001, exactly.
    documented = cbr.show_policy(ShowPolicyRequest(policy_id=DOCUMENTED_POLICY)).policy
    assert documented.name == "policy001" and documented.enabled is True
    assert documented.operation_type == "backup" and documented.associated_vaults == []
    od = documented.operation_definition
    assert (od.retention_duration_days, od.timezone, od.day_backups, od.year_backups) == (1, "UTC+08:00", 0, 0)
    assert documented.trigger.id == "d67269a6-5369-42d7-8150-5254bd446328"
    assert documented.trigger.properties.start_time == "2019-05-08 06:57:05"
    assert documented.trigger.properties.pattern == ["FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR,SA,SU;BYHOUR=14;BYMINUTE=00"]
    expect_404(lambda: cbr.show_policy(ShowPolicyRequest(policy_id="no-such-policy")), "BackupService.6000")
    expect_400(lambda: cbr.list_policies(ListPoliciesRequest(operation_type="restore")))
    print("list_policies/show_policy ->", bound.count, "bound to the vault")


def operation_logs(cbr, checkpoint_id, backup_id):
    # The vault's successful backups, one per page: the document's backup and
    # the checkpoint above.
    q = dict(operation_type="backup", status="success", vault_id=VAULT)
    first = cbr.list_op_logs(ListOpLogsRequest(limit=1, offset=0, **q))
    second = cbr.list_op_logs(ListOpLogsRequest(limit=1, offset=1, **q))
    beyond = cbr.list_op_logs(ListOpLogsRequest(limit=1, offset=2, **q))
    assert (first.count, second.count, beyond.count) == (2, 2, 2), (first.count, second.count)
    assert (first.limit, first.offset, second.offset) == (1, 0, 1)
    assert len(first.operation_logs) == len(second.operation_logs) == 1 and beyond.operation_logs == []
    log, seeded = first.operation_logs[0], second.operation_logs[0]  # newest first
    assert log.checkpoint_id == checkpoint_id and seeded.checkpoint_id == SEED_CHECKPOINT
    assert log.operation_type == "backup" and log.status == "success"
    assert log.project_id == PROJECT and log.provider_id == PROVIDER_SERVER
    assert log.vault_id == VAULT and log.vault_name == "vault-be94"
    assert log.policy_id is None, "a manual backup"
    assert log.ended_at and log.started_at and log.updated_at and log.created_at
    assert log.error_info.code == "" and log.error_info.message == ""
    extra = log.extra_info
    assert extra.common.progress == 100 and extra.common.request_id
    assert (extra.resource.id, extra.resource.name, extra.resource.type) == (SERVER, "ecs-1f0f-0002", "OS::Nova::Server")
    assert extra.backup.backup_id == backup_id and extra.backup.backup_name == "sdk_backup"
    assert extra.backup.incremental == "true" and extra.backup.app_consistency_status == "0"
    assert seeded.extra_info.backup.backup_id == SEED_BACKUP
    assert seeded.policy_id == DAILY_POLICY, "the document's backup was policy-triggered"
    one = cbr.show_op_log(ShowOpLogRequest(operation_log_id=log.id)).operation_log
    assert one.to_dict() == log.to_dict()

    # Paging without filters: count is the total, pages do not overlap.
    first = cbr.list_op_logs(ListOpLogsRequest(limit=3, offset=0))
    second = cbr.list_op_logs(ListOpLogsRequest(limit=3, offset=3))
    assert first.count == second.count and first.count > 3000, first.count
    assert not {l.id for l in first.operation_logs} & {l.id for l in second.operation_logs}

    # A failing checkpoint: its backup operation runs, then fails with a code.
    body = VaultBackupReq(checkpoint=VaultBackup(
        vault_id=VAULT, parameters=CheckpointParam(name="sim-error-sdk", resources=[SERVER])))
    failing = cbr.create_checkpoint(CreateCheckpointRequest(body=body)).checkpoint.id
    deadline = time.time() + 30
    while True:
        mine = [l for l in cbr.list_op_logs(ListOpLogsRequest(vault_id=VAULT, operation_type="backup")).operation_logs
                if l.checkpoint_id == failing]
        assert len(mine) == 1, mine
        if mine[0].status == "failed":
            break
        assert mine[0].status == "running" and mine[0].ended_at is None, mine[0]
        assert 0 <= mine[0].extra_info.common.progress < 100
        assert time.time() < deadline, "the failing checkpoint never failed"
        time.sleep(0.2)
    assert mine[0].error_info.code == "BackupService.6215", mine[0].error_info
    assert mine[0].error_info.message and mine[0].ended_at
    failed = cbr.list_op_logs(ListOpLogsRequest(status="failed", vault_id=VAULT))
    assert failing in [l.checkpoint_id for l in failed.operation_logs]
    assert all(l.status == "failed" for l in failed.operation_logs)

    # The documents' logs: one of every kind, each with its extra_info.
    windowed = cbr.list_op_logs(
        ListOpLogsRequest(start_time="2019-05-23T00:00:00Z", end_time="2019-05-24T00:00:00Z")
    )
    assert [l.id for l in windowed.operation_logs] == [DOCUMENTED_LOG], windowed
    doc = cbr.show_op_log(ShowOpLogRequest(operation_log_id=DOCUMENTED_LOG)).operation_log
    assert doc.checkpoint_id == "b432511f-d889-428f-8b0e-5f47c524c6b6" and doc.status == "success"
    assert doc.started_at == "2019-05-23T14:31:36.007230" and doc.ended_at == "2019-05-23T14:35:23.511155"
    assert doc.vault_id is None and doc.vault_name is None and doc.policy_id is None
    assert doc.extra_info.backup.backup_name == "manualbk_backup"
    assert doc.extra_info.common.request_id == "req-cdb98cc4-e87b-4f40-9b4a-57ec036620bc"
    assert doc.extra_info.resource.name == "ECS-0001"
    restore = cbr.list_op_logs(ListOpLogsRequest(operation_type="restore")).operation_logs
    assert len(restore) == 1 and restore[0].status == "running" and restore[0].ended_at is None
    assert restore[0].extra_info.restore.backup_id == SEED_BACKUP
    assert restore[0].extra_info.common.progress == 35
    delete = cbr.list_op_logs(ListOpLogsRequest(operation_type="delete", status="failed")).operation_logs
    assert len(delete) == 1 and delete[0].error_info.code == "BackupService.6204"
    assert delete[0].extra_info.delete.backup_id == SEED_BACKUP
    vault_delete = cbr.list_op_logs(ListOpLogsRequest(operation_type="vault_delete")).operation_logs
    assert vault_delete[0].extra_info.vault_delete.total_count == 12
    replication = cbr.list_op_logs(ListOpLogsRequest(operation_type="replication", vault_id=VAULT)).operation_logs
    assert replication[0].extra_info.replication.destination_region == "region2"
    assert replication[0].policy_id == REPLICATION_POLICY
    sync = cbr.list_op_logs(ListOpLogsRequest(operation_type="sync", enterprise_project_id="all_granted_eps"))
    assert sync.count == 1 and sync.operation_logs[0].extra_info.sync.sync_backup_num == 3
    removed = cbr.list_op_logs(ListOpLogsRequest(operation_type="remove_resource")).operation_logs
    assert removed[0].extra_info.remove_resources.total_count == 2
    assert removed[0].extra_info.remove_resources.resources[0].id == removed[0].extra_info.resource.id
    by_name = cbr.list_op_logs(ListOpLogsRequest(resource_name="ECS-0001", provider_id=PROVIDER_SERVER))
    assert [l.id for l in by_name.operation_logs] == [DOCUMENTED_LOG], by_name
    by_resource = cbr.list_op_logs(ListOpLogsRequest(resource_id=SERVER, vault_name="vault-be94"))
    kinds = sorted(l.operation_type for l in by_resource.operation_logs)
    assert kinds == ["backup"] * 3 + ["delete", "replication", "restore", "sync"], kinds

    expect_404(lambda: cbr.show_op_log(ShowOpLogRequest(operation_log_id="no-such-log")), "BackupService.6500")
    expect_400(lambda: cbr.list_op_logs(ListOpLogsRequest(status="done")))
    expect_400(lambda: cbr.list_op_logs(ListOpLogsRequest(operation_type="snapshot")))
    expect_400(lambda: cbr.list_op_logs(ListOpLogsRequest(start_time="2019-05-23")))
    expect_400(lambda: cbr.list_op_logs(ListOpLogsRequest(limit=0)))
    print("list_op_logs/show_op_log ->", first.count, "operations")


if __name__ == "__main__":
    main()
