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
    Resource,
    ShowBackupRequest,
    ShowCheckpointRequest,
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

    # A wrong secret key: 401 APIGW.0301.
    try:
        client(endpoint, ak, sk + "-wrong").show_backup(ShowBackupRequest(backup_id=SEED_BACKUP))
        raise AssertionError("expected a 401")
    except exceptions.ClientRequestException as e:
        assert e.status_code == 401, e.status_code
        assert e.error_code == "APIGW.0301", e.error_code
        print("wrong SK ->", e.status_code, e.error_code)

    print("official SDK: all checks passed")


if __name__ == "__main__":
    main()
