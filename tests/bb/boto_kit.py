"""An operator's writes with botocore in-process, the library the aws CLI runs: the same
signed request without the CLI's start-up (about 1.2 s of CPU a call, several seconds on a
loaded 2-core machine).  For a test's ACTORS only (an operator's change, items written by
hand); what a test judges by still reads with the aws CLI where it did.  Nothing from the
environment's own AWS set-up is used (as harness.aws_cli); one client per endpoint and key."""
from harness import TEST_KEY

_clients = {}


def client(endpoint, region, service, key=TEST_KEY):
    k = (endpoint, region, service, key["access_key"])
    if k not in _clients:
        import botocore.session
        s = botocore.session.Session()
        s.set_config_variable("config_file", "/dev/null")
        s.set_config_variable("credentials_file", "/dev/null")
        _clients[k] = s.create_client(service, endpoint_url=endpoint, region_name=region,
                                      aws_access_key_id=key["access_key"], aws_secret_access_key=key["secret_key"])
    return _clients[k]


def r53_change(peer, batch, key=TEST_KEY):
    """ChangeResourceRecordSets on the Route 53 peer's zone (as `aws route53
    change-resource-record-sets --change-batch`): its ChangeInfo."""
    return client(peer.url, "us-east-1", "route53", key).change_resource_record_sets(
        HostedZoneId=peer.zone_id, ChangeBatch=batch)["ChangeInfo"]


def ddb(peer, region, key=TEST_KEY):
    """A DynamoDB client on the DynamoDB peer's region (put_item, delete_item, ...)."""
    return client(peer.url(region), region, "dynamodb", key)
