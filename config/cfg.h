/* cfg — the regiond configuration: one JSON file, validated whole.
 *
 * cfg_load() reads and validates a file and returns a fully checked, immutable
 * cfg_t, or NULL with one error line in the caller's buffer of the form
 *   FILE: KEY.PATH: expected WHAT[, got VALUE]
 * e.g. "/etc/regiond/regiond.json: regions[1].api[0].timeout_ms: expected an
 * integer from 1 to 600000, got 2.7".  Unknown keys, duplicate keys, wrong
 * types, non-integers, out-of-range and non-finite numbers are all rejected.
 * Every key and its default is documented in docs/config.md.
 *
 * Owner: the daemon holds the current cfg_t; a reload builds a new one and
 * swaps it in whole; nothing points into an old cfg_t after cfg_free(). */
#ifndef REGIOND_CFG_H
#define REGIOND_CFG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CFG_DEFAULT_PATH "/etc/regiond/regiond.json"
#define CFG_MAX_CHANGES 1000    /* decision.max_changes' largest value */
#define CFG_ERR_SIZE 1024        /* an error buffer this large holds any cfg message */
#define CFG_MAX_REGIONS 64       /* regions failover manages (failover/decide.h DECIDE_MAX_REGIONS) */
#define CFG_MAX_NAME_SERVERS 8   /* route53.name_servers the DNS check asks (failover/dnscheck.c) */
#define CFG_MAX_RESOLVERS 32     /* resolver.servers: c-ares takes them as one list of at most 2 KiB */

typedef enum { CFG_RULE_ALL, CFG_RULE_ANY, CFG_RULE_QUORUM } cfg_rule_t;
const char *cfg_rule_str(cfg_rule_t r);

/* One request header a probe sends.  Either a literal value or a secret read
 * at load time from exactly one source; a secret's value never reaches a log
 * line or the status API (secret == true). */
typedef struct {
    char *name;
    char *value;            /* literal, or the secret's contents (trailing newline stripped) */
    bool secret;
    char *secret_source;    /* for display: "file:/path", "env:NAME", "credential:NAME" */
} cfg_header_t;

/* One HTTP(S) probe target of a region ("api" entries). */
typedef struct {
    char *name;                   /* default: "api[N]" */
    char *url;                    /* http:// or https:// */
    char *method;                 /* GET (default), HEAD, POST, PUT, OPTIONS */
    char *body;                   /* request body, NULL for none */
    cfg_header_t *headers;
    size_t n_headers;
    int *expect_status;           /* default {200} */
    size_t n_expect_status;
    char *body_contains;          /* NULL for no check */
    char *body_regex;             /* POSIX extended regex, validated with regcomp; NULL for none */
    uint32_t max_body_bytes;      /* read at most this much body; default 65536 */
    uint32_t interval_ms;         /* default 1000 */
    uint32_t timeout_ms;          /* total; default 800; must be < interval_ms */
    uint32_t connect_timeout_ms;  /* default = timeout_ms; must be <= timeout_ms */
    uint32_t latency_ms_max;      /* above this the probe counts as slow (degraded); 0 = off */
    uint32_t rise;                /* consecutive good results to come up; default 2 */
    uint32_t fall;                /* consecutive failures to go down; default 4 */
    bool insecure;                /* skip TLS verification (shown in status); default false */
    bool keepalive;               /* reuse connections; default false (fresh per probe) */
    uint32_t full_handshake_s;    /* force a full TLS handshake at least this often; default 60 */
    uint32_t max_addresses;       /* probe at most this many resolved addresses; default 4 */
    int ip_version;               /* 0 = both (default), 4 or 6 */
} cfg_api_t;

typedef struct {
    char *name;                   /* unique, [A-Za-z0-9._-]{1,64} */
    cfg_rule_t rule;              /* how target states make the region's; default all */
    uint32_t quorum;              /* for rule quorum: 1..n_api; set to n_api for all, 1 for any */
    cfg_api_t *api;
    size_t n_api;                 /* >= 1 */
} cfg_region_t;

typedef struct {
    char *id;                     /* default "regiond" */
    char *listen;                 /* "127.0.0.1:9470" (default), "[::1]:9470" or "unix:/path" */
    char *state_dir;              /* absolute; default "/var/lib/regiond" */
    uint32_t events_ring;         /* events kept for Last-Event-ID resume; default 4096 */
    uint32_t max_probes_in_flight; /* rounds are skipped while this many probes run; default 256 */
    char *log_level;              /* debug|info|notice|warning|error; default info */
    char *token_file;             /* API tokens, "NAME TOKEN [ro]" per line; NULL: control endpoints off */
    char *token_credential;       /* systemd credential holding the token file (beats token_file) */
    /* The API's budget (docs/architecture.md, "Descriptor and memory budget") */
    uint32_t max_api_connections; /* open API connections, streams included; default 64 */
    uint32_t max_stream_clients;  /* /v1/events clients; default 16 */
    uint32_t stream_client_buffer_bytes; /* bytes queued per stream client; default 65536 */
    uint32_t stream_memory_bytes; /* all stream clients' queues together; default 2 MiB */
    uint32_t request_deadline_ms; /* a request's headers and body must arrive within this; default 5000 */
    char **allowed_hosts;         /* Host: names served besides loopback names and addresses */
    size_t n_allowed_hosts;
    uint32_t audit_max_bytes;     /* audit.log is rotated (audit.log.1) past this; default 16 MiB */
} cfg_controller_t;

typedef struct {
    char **servers;               /* "IP" or "IP:PORT" / "[IPv6]:PORT"; empty = /etc/resolv.conf */
    size_t n_servers;
    uint32_t timeout_ms;          /* per try; default 2000 */
    uint32_t tries;               /* default 2 */
    uint32_t min_ttl_s;           /* cache floor; default 5 */
    uint32_t max_ttl_s;           /* cache ceiling; default 300 */
    uint32_t negative_ttl_s;      /* how long a failed lookup is remembered; default 5 */
} cfg_resolver_t;

typedef struct {
    char *ca_file;                /* default "/etc/ssl/certs/ca-certificates.crt" */
} cfg_tls_t;

typedef struct {
    uint32_t latency_window_s;    /* rolling window for p50/p90/p99; default 300 */
} cfg_health_t;

/* AWS client settings ("aws"). */
typedef struct {
    char *profile;                /* shared-credentials profile; NULL: AWS_PROFILE or "default" */
    char *shared_credentials_file;/* NULL: AWS_SHARED_CREDENTIALS_FILE or ~/.aws/credentials */
    char *credential;             /* systemd credential holding a shared-credentials file */
    char *imds_endpoint;          /* NULL: AWS_EC2_METADATA_SERVICE_ENDPOINT or 169.254.169.254 */
    char *account_id;             /* 12 digits, for --print-iam-policy; NULL if unknown */
    char **endpoint_keys;         /* "route53", "dynamodb.us-east-1", ... */
    char **endpoint_urls;         /* override base URL for each key */
    size_t n_endpoints;
    uint32_t route53_rate_milli;  /* requests per second x 1000; default 2000 */
    uint32_t route53_burst;       /* default 5 */
    uint32_t retry_max_attempts;  /* default 8 */
    uint32_t retry_base_ms;       /* default 100 */
    uint32_t retry_max_ms;        /* default 20000 */
    uint32_t request_timeout_ms;  /* per attempt; default 10000 */
} cfg_aws_t;

/* A region's Route 53 record ("regions[].route53"). */
typedef struct {
    char *set_identifier;         /* default: the region's name */
    uint32_t weight;              /* configured weight when healthy, 0..255; default 100 */
    char **values;                /* record values (CNAME target, addresses) */
    size_t n_values;
    char *alias_zone;             /* alias target instead of values */
    char *alias_dns;
    bool alias_evaluate;
} cfg_r53_region_t;

/* The weighted record set regiond moves ("route53"); absent = monitor only. */
typedef struct {
    bool enabled;
    char *hosted_zone_id;         /* "Z0123456789ABC" (no /hostedzone/ prefix) */
    char *record_name;            /* FQDN with trailing dot */
    char *record_type;            /* CNAME, A or AAAA */
    uint32_t ttl;                 /* default 60 */
    char **name_servers;          /* authoritative servers to check answers at: "HOST" or "IP:PORT" */
    size_t n_name_servers;
    uint32_t dns_consecutive;     /* answers in a row to call a change visible; default 5 */
    uint32_t dns_interval_ms;     /* between DNS check queries; default 200 */
    uint32_t dns_timeout_s;       /* give up on visibility after; default 120 */
    uint32_t change_timeout_s;    /* alarm when a change is not INSYNC after; default 300 */
    uint32_t reconcile_s;         /* compare live and desired records every; default 60 */
    bool correct_drift;           /* rewrite drifted records on reconcile; default false */
    cfg_r53_region_t *regions;    /* parallel to cfg_t.regions */
} cfg_route53_t;

/* Decision engine settings ("decision"). */
typedef struct {
    uint32_t min_healthy_regions; /* default 1 */
    int fail_open_restore;        /* 0 keep (default), 1 restore */
    int degraded_weight;          /* -1 keep configured (default), else 0..255 */
    uint32_t hold_down_s;         /* default 60 */
    uint32_t max_changes;         /* per window; 0 = off; default 6; at most CFG_MAX_CHANGES */
    uint32_t window_s;            /* default 3600 */
    uint32_t settle_ms;           /* wait this long before draining, to see correlated failures together; default 1000 */
    bool freeze;                  /* start frozen: decide and show, never apply */
    bool dry_run;                 /* never apply, from start-up, whatever freeze says */
} cfg_decision_t;

/* One backup schedule ("dynamodb.backups[]"). */
typedef struct {
    char *name;                   /* schedule name, unique; default "backups[N]" */
    char *table;                  /* default: dynamodb.table */
    char **regions;               /* replica regions to back up (names of configured regions) */
    size_t n_regions;
    char *schedule;               /* 5-field cron, UTC (validated with cron_parse) */
    char *name_template;          /* default "regiond-{table}-{schedule}.{utc:%Y%m%dT%H%MZ}" */
    char *id;                     /* the name sanitised for backup names: [A-Za-z0-9_-], others '_' */
    uint32_t keep_last;           /* 0 = not used */
    uint32_t keep_days;           /* 0 = not used */
    uint32_t available_timeout_s; /* alarm when not AVAILABLE after; default 3600 */
} cfg_backup_t;

/* The DynamoDB global table under the API ("dynamodb"); absent = not watched. */
typedef struct {
    bool enabled;
    char *table;                  /* the global table's name */
    char **aws_regions;           /* AWS region per configured region (regions[].dynamodb.region) */
    uint32_t describe_interval_s; /* DescribeTable per region; default 30 */
    int heartbeat_mode;           /* 0: a dedicated heartbeat table (default), 1: the application table */
    char *heartbeat_table;        /* mode 0: default "regiond-heartbeat"; mode 1: table */
    char *heartbeat_key_prefix;   /* reserved String/Binary key prefix; default "__regiond#hb" */
    char **heartbeat_number_keys; /* per configured region: the reserved Number key value, NULL unset */
    uint32_t heartbeat_interval_ms;   /* each region writes; default 5000 */
    uint32_t heartbeat_read_ms;       /* each region reads the others; default 500 */
    uint32_t stale_after_s;       /* reads not advancing this long -> finding; default 30 */
    uint32_t rpo_ms;              /* replication lag bound for the data-safety gate; default 10000 */
    int gate;                     /* 0 gate (default), 1 warn, 2 off */
    int finding;                  /* what a replica finding does to the region: 0 degraded (default), 1 down, 2 none */
    cfg_backup_t *backups;
    size_t n_backups;
    bool pitr_manage;             /* true whenever dynamodb is configured */
    bool pitr_enabled;            /* want PITR on; default true */
    uint32_t pitr_period_days;    /* 0 = do not set RecoveryPeriodInDays */
    uint32_t pitr_check_s;        /* default 300 */
} cfg_dynamodb_t;

/* One alarm webhook ("alarms.webhooks[]"). */
typedef enum { CFG_HOOK_JSON, CFG_HOOK_SLACK, CFG_HOOK_PAGERDUTY } cfg_hook_kind_t;
typedef enum { CFG_SEV_WARNING, CFG_SEV_CRITICAL } cfg_severity_t;
typedef struct {
    char *name;                   /* unique, [A-Za-z0-9._-]{1,64} */
    char *url;                    /* http(s); may hold a token: never logged */
    bool url_secret;              /* url was read from a secret */
    cfg_hook_kind_t kind;         /* default json */
    cfg_header_t routing_key;     /* pagerduty only (required there): a secret */
    uint32_t timeout_ms;          /* per attempt; default 5000 */
    uint32_t max_attempts;        /* default 6 */
    cfg_severity_t min_severity;  /* default warning (everything) */
} cfg_webhook_t;

/* Where alarms are delivered ("alarms"); absent = feed only. */
typedef struct {
    cfg_webhook_t *webhooks;
    size_t n_webhooks;
    uint32_t queue_max;           /* messages waiting per webhook; default 100 */
    uint32_t retry_base_ms;       /* first backoff; default 1000 */
    uint32_t retry_max_ms;        /* backoff ceiling; default 60000 */
} cfg_alarms_t;

/* One lease table ("cluster.lease_tables[]"): a plain (never global) table
 * with a String partition key "name", in an AWS region that need not be a
 * configured region. */
typedef struct {
    char *region;                 /* AWS region, [A-Za-z0-9._-]{1,64} */
    char *table;                  /* DynamoDB table name, [A-Za-z0-9_.-]{3,255} */
} cfg_lease_table_t;

#define CFG_MAX_LEASE_TABLES 5
#define CFG_MAX_OBSERVERS 9

/* The observers ("cluster.quorum", issue 18): every instance named here
 * publishes its own view of the regions to the lease tables and reads every
 * other's (cluster/views.h).  Absent = off: no view is written or read.
 * The leader decides on the quorum rule: k fresh views agree (docs/ha.md). */
typedef struct {
    bool enabled;
    char **observers;             /* instance ids, distinct, one of them cluster.instance_id */
    size_t n_observers;           /* 1..CFG_MAX_OBSERVERS */
    uint32_t k;                   /* 1..n_observers; default a majority of n */
    uint32_t publish_ms;          /* heartbeat; 500..60000, default 2000 */
} cfg_quorum_t;

/* Several controllers, one leader ("cluster"); absent = a single controller.
 * Clock assumption: each host's monotonic clock runs at its true rate within
 * 5 %; wall clocks are never compared between hosts (docs/ha.md). */
typedef struct {
    bool enabled;
    char *instance_id;            /* default controller.id */
    char *advertise_url;          /* what followers show as the leader's address; NULL unset */
    char *name;                   /* the lease item's key; default "regiond" */
    char *former_name;            /* a rename under way: the name before it (its items held too); NULL none */
    cfg_lease_table_t *tables;    /* 1, 3 or 5, distinct regions */
    size_t n_tables;
    uint32_t lease_ms;            /* default 10000 */
    uint32_t renew_ms;            /* default 2000; renew_ms * 3 < lease_ms */
    uint32_t margin_ms;           /* default 2000; lease_ms / 10 <= margin_ms, margin_ms * 2 < lease_ms */
    cfg_quorum_t quorum;          /* "cluster.quorum"; enabled false when absent */
    uint32_t follow_ms;           /* default 1000: a follower reads every min(follow_ms, renew_ms) */
} cfg_cluster_t;

typedef struct cfg {
    char *path;                   /* file it was loaded from */
    cfg_controller_t controller;
    cfg_resolver_t resolver;
    cfg_tls_t tls;
    cfg_health_t health;
    cfg_region_t *regions;
    size_t n_regions;             /* >= 1 */
    cfg_aws_t aws;
    cfg_route53_t route53;
    cfg_decision_t decision;
    cfg_dynamodb_t dynamodb;
    cfg_alarms_t alarms;
    cfg_cluster_t cluster;
} cfg_t;

/* Endpoint override for SERVICE ("route53") or SERVICE.REGION, NULL if none. */
const char *cfg_aws_endpoint(const cfg_t *cfg, const char *service, const char *region);

/* Read and validate PATH.  NULL on any error, with the message in err. */
cfg_t *cfg_load(const char *path, char *err, size_t errlen);

/* Validate JSON text (len bytes); `path` is used only in messages. */
cfg_t *cfg_parse(const char *text, size_t len, const char *path, char *err, size_t errlen);

/* Free a cfg_t (NULL is fine).  Secret values are wiped before free. */
void cfg_free(cfg_t *cfg);

#endif
