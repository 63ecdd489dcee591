"""Drives the cbr-gateway simulator with Huawei's official Python SDK.

Usage: official_sdk.py ENDPOINT AK SK

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
    CbrClient,
    CheckpointParam,
    CreateCheckpointRequest,
    ListBackupsRequest,
    ListOpLogsRequest,
    ListPoliciesRequest,
    ListVaultRequest,
    Resource,
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
SEED_BACKUP = "6df2b54c-dd62-4059-a07c-1b8f24f2725d"


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

    # A wrong secret key: 401 APIGW.0301.
    try:
        client(endpoint, ak, sk + "-wrong").show_backup(ShowBackupRequest(backup_id=SEED_BACKUP))
        raise AssertionError("expected a 401")
    except exceptions.ClientRequestException as e:
        assert e.status_code == 401, e.status_code
        assert e.error_code == "APIGW.0301", e.error_code
        print("wrong SK ->", e.status_code, e.error_code)

    print("official SDK: all checks passed")


def expect_404(call, code):
    try:
        call()
        raise AssertionError("expected a 404 " + code)
    except exceptions.ClientRequestException as e:
        assert e.status_code == 404, e.status_code
        assert e.error_code == code, e.error_code


def lifecycle(cbr, checkpoint_id, backup_id):
    """Vaults, policies and operation logs (LIFECYCLE.md), through the SDK's models."""
    # list_vault: the example vault by name, then every vault page by page.
    named = cbr.list_vault(ListVaultRequest(name="vault-be94"))
    assert named.count == 1, named.count
    vault = named.vaults[0]
    assert vault.id == VAULT and vault.project_id == PROJECT
    assert vault.billing.status == "available" and vault.billing.object_type == "server"
    assert vault.billing.allocated == 40, vault.billing.allocated
    assert vault.billing.used >= 40 * 1024, vault.billing.used
    assert vault.resources[0].id == SERVER and vault.resources[0].type == "OS::Nova::Server"
    everything = cbr.list_vault(ListVaultRequest())
    total = everything.count
    assert total == len(everything.vaults) and total >= 5, total
    seen = []
    offset = 0
    while offset < total:
        page = cbr.list_vault(ListVaultRequest(limit=2, offset=offset))
        assert page.count == total and page.limit == 2 and page.offset == offset
        seen += [v.id for v in page.vaults]
        offset += 2
    assert sorted(seen) == sorted(v.id for v in everything.vaults)
    servers = cbr.list_vault(ListVaultRequest(object_type="server", resource_ids=SERVER))
    assert [v.id for v in servers.vaults] == [VAULT], servers
    disks = cbr.list_vault(ListVaultRequest(object_type="disk"))
    assert disks.count >= 1 and all(v.billing.object_type == "disk" for v in disks.vaults)
    by_ids = cbr.list_vault(ListVaultRequest(id=[VAULT, disks.vaults[0].id]))
    assert by_ids.count == 2, by_ids.count
    shown = cbr.show_vault(ShowVaultRequest(vault_id=VAULT)).vault
    assert shown.name == "vault-be94" and shown.billing.size >= shown.billing.allocated
    expect_404(lambda: cbr.show_vault(ShowVaultRequest(vault_id="no-such-vault")), "BackupService.6105")
    try:
        cbr.list_vault(ListVaultRequest(limit=0))
        raise AssertionError("expected a 400")
    except exceptions.ClientRequestException as e:
        assert e.status_code == 400 and e.error_code == "BackupService.9900", e.error_code
    print("list_vault/show_vault ->", total, "vaults")

    # list_policies / show_policy: the vault's policies, the documents' one.
    bound = cbr.list_policies(ListPoliciesRequest(vault_id=VAULT))
    assert bound.count == 2, bound.count
    assert {p.operation_type for p in bound.policies} == {"backup", "replication"}
    backup_policy = cbr.list_policies(ListPoliciesRequest(vault_id=VAULT, operation_type="backup")).policies
    assert len(backup_policy) == 1
    assert backup_policy[0].associated_vaults[0].vault_id == VAULT
    assert backup_policy[0].trigger.properties.pattern == ["FREQ=DAILY;INTERVAL=1;BYHOUR=18;BYMINUTE=00"]
    documented = cbr.show_policy(ShowPolicyRequest(policy_id="cbb3ce6f-3332-4e7c-b98e-77290d8471ff")).policy
    assert documented.name == "policy001" and documented.enabled
    assert documented.operation_definition.retention_duration_days == 1
    assert documented.operation_definition.timezone == "UTC+08:00"
    assert documented.trigger.type == "time"
    expect_404(lambda: cbr.show_policy(ShowPolicyRequest(policy_id="no-such-policy")), "BackupService.6000")
    print("list_policies/show_policy ->", bound.count, "bound to the vault")

    # list_op_logs / show_op_log: the checkpoint above is a finished backup operation.
    mine = cbr.list_op_logs(ListOpLogsRequest(operation_type="backup", status="success", vault_id=VAULT, limit=1000))
    log = next(l for l in mine.operation_logs if l.checkpoint_id == checkpoint_id)
    assert log.extra_info.backup.backup_id == backup_id
    assert log.extra_info.common.progress == 100
    assert log.extra_info.resource.id == SERVER
    assert log.error_info.code == ""
    assert all(l.operation_type == "backup" and l.status == "success" for l in mine.operation_logs)
    first = cbr.list_op_logs(ListOpLogsRequest(limit=3, offset=0))
    second = cbr.list_op_logs(ListOpLogsRequest(limit=3, offset=3))
    assert first.count == second.count and first.count > 6
    assert not {l.id for l in first.operation_logs} & {l.id for l in second.operation_logs}
    restores = cbr.list_op_logs(ListOpLogsRequest(operation_type="restore"))
    assert restores.count == 1 and restores.operation_logs[0].extra_info.restore.backup_id == SEED_BACKUP
    windowed = cbr.list_op_logs(
        ListOpLogsRequest(start_time="2019-05-23T00:00:00Z", end_time="2019-05-24T00:00:00Z")
    )
    assert [l.id for l in windowed.operation_logs] == ["4827f2da-b008-4507-ab7d-42d0df5ed912"], windowed
    one = cbr.show_op_log(ShowOpLogRequest(operation_log_id=log.id)).operation_log
    assert one.id == log.id and one.status == "success" and one.checkpoint_id == checkpoint_id
    expect_404(lambda: cbr.show_op_log(ShowOpLogRequest(operation_log_id="no-such-log")), "BackupService.6500")
    print("list_op_logs/show_op_log ->", first.count, "operations")


if __name__ == "__main__":
    main()
