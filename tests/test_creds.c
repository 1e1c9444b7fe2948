/* test_creds — the credential chain: environment, shared file (INI),
 * systemd credential, precedence, error messages without secrets, expiry
 * parsing.  The container and IMDSv2 sources are in test_creds_http.c. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tests/check.h"
#include "aws/creds.h"
#include "aws/creds_int.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/resolver.h"
#include "tests/creds_kit.h"

/* ---- synchronous sources ---- */

static const char *const shared_file =
    "# regiond test credentials\n"
    "; another comment style\n"
    "\n"
    "[default]\n"
    "aws_access_key_id = AKIDDEFAULT\n"
    "aws_secret_access_key=" SECRET_DEF "\n"
    "\n"
    "  [prod]   # inline comment after a header\r\n"
    "\tAWS_ACCESS_KEY_ID\t=\tAKIDPROD   \r\n"
    "aws_secret_access_key = " SECRET_PROD " ; inline comment\r\n"
    "aws_session_token = " TOKEN_PROD "\r\n"
    "region = eu-west-1\r\n"
    "s3 =\n"
    "    max_concurrent_requests = 20\n"
    "\n"
    "[staging]\n"
    "aws_access_key_id = AKIDSTG\n"
    "aws_secret_access_key = " SECRET_STG "#not-a-comment\n"
    "[only-role]\n"
    "role_arn = arn:aws:iam::123456789012:role/x\n"
    "source_profile = default\n"
    "[half]\n"
    "aws_access_key_id = AKIDHALF\n";

static void test_env_and_file(void)
{
    char path[300], awsdir[200];
    clear_env();
    setenv("HOME", tmpdir, 1);
    init_cfg(NULL);

    /* Nothing anywhere. */
    result_t r = get_now();
    CHECK(!r.ok);
    CHECK_CONTAINS(r.err, "no AWS credentials");
    CHECK_CONTAINS(r.err, "environment: not set");
    CHECK_CONTAINS(r.err, "/.aws/credentials: not found");
    CHECK_CONTAINS(r.err, "AWS_EC2_METADATA_DISABLED");
    CHECK(strcmp(creds_source(), "") == 0);

    /* The default file, default profile. */
    snprintf(awsdir, sizeof(awsdir), "%s/.aws", tmpdir);
    mkdir(awsdir, 0700);
    snprintf(path, sizeof(path), "%s/credentials", awsdir);
    write_file(path, shared_file);
    r = get_now();
    CHECK(r.ok && strcmp(r.c.access_key, "AKIDDEFAULT") == 0);
    CHECK(r.ok && strcmp(r.c.secret_key, SECRET_DEF) == 0 && r.c.token[0] == '\0');
    CHECK(strcmp(r.c.source, "shared-file:default") == 0);
    CHECK_EQ_INT(r.c.expires_wall_ms, 0);
    CHECK(strcmp(creds_source(), "shared-file:default") == 0);

    /* Cached: a second get answers from the cache even if the file goes. */
    result_t r2;
    memset(&r2, 0, sizeof(r2));
    CHECK_EQ_INT(creds_get(on_creds, &r2), 0);
    CHECK(r2.calls == 1 && r2.ok && strcmp(r2.c.access_key, "AKIDDEFAULT") == 0);

    /* AWS_PROFILE selects, whitespace / CRLF / inline comments handled. */
    setenv("AWS_PROFILE", "prod", 1);
    r = get_now();
    CHECK(r.ok && strcmp(r.c.access_key, "AKIDPROD") == 0);
    CHECK(r.ok && strcmp(r.c.secret_key, SECRET_PROD) == 0);
    CHECK(r.ok && strcmp(r.c.token, TOKEN_PROD) == 0);
    CHECK(strcmp(r.c.source, "shared-file:prod") == 0);

    /* The config's profile wins over AWS_PROFILE; '#' without a space before
     * it is part of the value. */
    init_cfg(&(creds_cfg_t){.profile = "staging"});
    r = get_now();
    CHECK(r.ok && strcmp(r.c.secret_key, SECRET_STG "#not-a-comment") == 0);
    init_cfg(NULL);

    /* A missing profile that was asked for. */
    setenv("AWS_PROFILE", "nope", 1);
    r = get_now();
    CHECK(!r.ok);
    char want[512];
    snprintf(want, sizeof(want), "shared credentials file %s: profile 'nope' not found", path);
    CHECK_CONTAINS(r.err, want);

    /* Profiles without both keys. */
    setenv("AWS_PROFILE", "only-role", 1);
    r = get_now();
    CHECK_CONTAINS(r.err, "profile 'only-role' has no aws_access_key_id");
    setenv("AWS_PROFILE", "half", 1);
    r = get_now();
    CHECK_CONTAINS(r.err, "profile 'half' has aws_access_key_id but no aws_secret_access_key");
    unsetenv("AWS_PROFILE");

    /* Environment beats the file. */
    setenv("AWS_ACCESS_KEY_ID", "AKIDENV", 1);
    setenv("AWS_SECRET_ACCESS_KEY", SECRET_ENV, 1);
    setenv("AWS_SESSION_TOKEN", "envtoken", 1);
    r = get_now();
    CHECK(r.ok && strcmp(r.c.access_key, "AKIDENV") == 0 && strcmp(r.c.token, "envtoken") == 0);
    CHECK(strcmp(r.c.source, "environment") == 0 && r.c.expires_wall_ms == 0);

    /* Half an environment is an error, not a fall-through. */
    unsetenv("AWS_SECRET_ACCESS_KEY");
    r = get_now();
    CHECK_CONTAINS(r.err, "environment: AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not");
    setenv("AWS_SECRET_ACCESS_KEY", SECRET_ENV, 1);
    static char longtok[5000];
    memset(longtok, 'T', sizeof(longtok) - 1);
    setenv("AWS_SESSION_TOKEN", longtok, 1);
    r = get_now();
    CHECK_CONTAINS(r.err, "environment: AWS_SESSION_TOKEN longer than 4095 bytes");
    CHECK(strstr(r.err, "TTTT") == NULL);
    unsetenv("AWS_ACCESS_KEY_ID");
    unsetenv("AWS_SECRET_ACCESS_KEY");
    unsetenv("AWS_SESSION_TOKEN");

    /* The default file without [default]: noted, falls through. */
    write_file(path, "[other]\naws_access_key_id = A\naws_secret_access_key = B\n");
    r = get_now();
    CHECK_CONTAINS(r.err, "no profile 'default'");
    CHECK_CONTAINS(r.err, "no AWS credentials");
    unlink(path);

    /* An explicitly named file that does not exist. */
    setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/regiond/creds", 1);
    r = get_now();
    CHECK_CONTAINS(r.err, "shared credentials file /nonexistent/regiond/creds: not found");
    /* The config's file wins over the variable; "~/" is the home directory. */
    write_file(path, shared_file);
    init_cfg(&(creds_cfg_t){.shared_file = "~/.aws/credentials"});
    r = get_now();
    CHECK(r.ok && strcmp(r.c.access_key, "AKIDDEFAULT") == 0);
    init_cfg(NULL);
    unsetenv("AWS_SHARED_CREDENTIALS_FILE");
    unlink(path);
}

/* Each malformed file: the error names the file and the line, never a value. */
static void test_ini_errors(void)
{
    static const struct { const char *text, *want; } cases[] = {
        {"aws_access_key_id = X\n", "line 1: key outside any [section]"},
        {"[default]\naws_secret_access_key " SECRET_DEF "\n", "line 2: expected 'key = value'"},
        {"[default\naws_access_key_id = A\n", "line 1: section header without ']'"},
        {"[default] junk " SECRET_DEF "\n", "line 1: text after the section header"},
        {"[ ]\n", "line 1: empty section name"},
        {"[default]\n = " SECRET_DEF "\n", "line 2: empty key"},
        {"[default]\naws_access_key_id = A\naws_secret_access_key = " SECRET_DEF "\n"
         "[x]\n[default]\n", "line 5: profile 'default' defined again (first at line 1)"},
        {"[default]\naws_secret_access_key = A\nAWS_Secret_Access_Key = " SECRET_DEF "\n",
         "line 3: aws_secret_access_key set twice in profile 'default' (first at line 2)"},
        {"[default]\naws_access_key_id = A\naws_secret_access_key =\n  " SECRET_DEF "\n",
         "line 4: continuation line under a credential key"},
        {"[default]\naws_access_key_id = A\0\n", "contains a NUL byte"},
    };
    char path[256];
    snprintf(path, sizeof(path), "%s/bad.ini", tmpdir);
    setenv("AWS_SHARED_CREDENTIALS_FILE", path, 1);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        FILE *f = fopen(path, "w");
        size_t n = strlen(cases[i].text);
        if (strstr(cases[i].want, "NUL"))
            n = strlen(cases[i].text) + 2;   /* the embedded NUL and the newline */
        fwrite(cases[i].text, 1, n, f);
        fclose(f);
        result_t r = get_now();
        CHECK(!r.ok);
        char want[512];
        snprintf(want, sizeof(want), "shared credentials file %s: %s", path, cases[i].want);
        CHECK_CONTAINS(r.err, want);
    }
    /* A profile other than the selected one is not checked for duplicates,
     * but the whole file's syntax is. */
    write_file(path, "[x]\na = 1\n[x]\n[default]\naws_access_key_id = A\n"
               "aws_secret_access_key = B\n");
    result_t r = get_now();
    CHECK(r.ok && strcmp(r.c.secret_key, "B") == 0);
    unsetenv("AWS_SHARED_CREDENTIALS_FILE");
}

static void test_systemd_credential(void)
{
    char dir[256], path[300];
    snprintf(dir, sizeof(dir), "%s/creds.d", tmpdir);
    mkdir(dir, 0700);
    snprintf(path, sizeof(path), "%s/aws", dir);
    write_file(path, "[default]\naws_access_key_id = AKIDSD\naws_secret_access_key = " SECRET_SD
               "\n");
    /* The systemd credential wins over AWS_SHARED_CREDENTIALS_FILE. */
    setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent", 1);
    init_cfg(&(creds_cfg_t){.credential_name = "aws"});
    result_t r = get_now();
    CHECK_CONTAINS(r.err, "systemd credential 'aws': CREDENTIALS_DIRECTORY is not set");
    setenv("CREDENTIALS_DIRECTORY", dir, 1);
    r = get_now();
    CHECK(r.ok && strcmp(r.c.access_key, "AKIDSD") == 0 && strcmp(r.c.secret_key, SECRET_SD) == 0);
    CHECK(strcmp(r.c.source, "shared-file:default") == 0);
    init_cfg(&(creds_cfg_t){.credential_name = "missing"});
    r = get_now();
    char want[512];
    snprintf(want, sizeof(want), "systemd credential 'missing' (%s/missing): not found", dir);
    CHECK_CONTAINS(r.err, want);
    init_cfg(&(creds_cfg_t){.credential_name = "../aws"});
    r = get_now();
    CHECK_CONTAINS(r.err, "not a plain file name");
    unsetenv("CREDENTIALS_DIRECTORY");
    unsetenv("AWS_SHARED_CREDENTIALS_FILE");
    init_cfg(NULL);
}

static void test_expiration_and_json(void)
{
    int64_t ms = 0;
    CHECK_EQ_INT(creds_parse_expiration("2026-11-25T01:00:00Z", &ms), 0);
    CHECK(ms == 1795568400000LL);
    CHECK_EQ_INT(creds_parse_expiration("2026-11-25T01:00:00.250Z", &ms), 0);
    CHECK(ms == 1795568400250LL);
    CHECK_EQ_INT(creds_parse_expiration("2026-11-25T02:30:00+01:30", &ms), 0);
    CHECK(ms == 1795568400000LL);
    CHECK_EQ_INT(creds_parse_expiration("1970-01-01T00:00:01Z", &ms), 0);
    CHECK(ms == 1000);
    CHECK_EQ_INT(creds_parse_expiration("2026-11-25T01:00:00", &ms), -1);   /* no zone */
    CHECK_EQ_INT(creds_parse_expiration("2026-11-25 01:00:00Z", &ms), -1);
    CHECK_EQ_INT(creds_parse_expiration("2026-11-25T01:00:00Zjunk", &ms), -1);
    CHECK_EQ_INT(creds_parse_expiration("tomorrow", &ms), -1);
    CHECK_EQ_INT(creds_parse_expiration("", &ms), -1);
    CHECK_EQ_INT(creds_parse_expiration("2026-11-25T01:00:00.Z", &ms), -1);

    aws_creds_t c;
    char err[256];
    const char *good = "{\"Code\":\"Success\",\"Type\":\"AWS-HMAC\",\"AccessKeyId\":\"ASIA1\","
                       "\"SecretAccessKey\":\"imdsSECRET1\",\"Token\":\"imdsSECRETtok\","
                       "\"Expiration\":\"2026-11-25T01:00:00Z\"}";
    CHECK_EQ_INT(creds_parse_json(good, strlen(good), "t", &c, err, sizeof(err)), 0);
    CHECK(strcmp(c.secret_key, "imdsSECRET1") == 0 && c.expires_wall_ms == 1795568400000LL);
    static const struct { const char *json, *want; } bad[] = {
        {"{\"Code\":\"Failure\",\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"imdsSECRET\"}",
         "t: Code is 'Failure', not Success"},
        {"{\"AccessKeyId\":\"A\"}", "t: no SecretAccessKey in the response"},
        {"{\"AccessKeyId\":\"A\",\"SecretAccessKey\":7}",
         "SecretAccessKey is not a non-empty string"},
        {"{\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"imdsSECRET\",\"Expiration\":\"soon\"}",
         "Expiration is not an ISO 8601 UTC time"},
        {"[\"imdsSECRET\"]", "t: response is not a JSON object"},
        {"{\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"imdsSECRET", "not a JSON object"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        CHECK_EQ_INT(creds_parse_json(bad[i].json, strlen(bad[i].json), "t", &c, err,
                                      sizeof(err)), -1);
        CHECK_CONTAINS(err, bad[i].want);
        CHECK(c.secret_key[0] == '\0');
        size_t n = strlen(all_errors);
        snprintf(all_errors + n, sizeof(all_errors) - n, "%s\n", err);
    }
    /* Token too long for the field. */
    static char big[6000];
    int n = snprintf(big, sizeof(big),
                     "{\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"S\",\"Token\":\"");
    memset(big + n, 'k', 4500);
    snprintf(big + n + 4500, sizeof(big) - (size_t)n - 4500, "\"}");
    CHECK_EQ_INT(creds_parse_json(big, strlen(big), "t", &c, err, sizeof(err)), -1);
    CHECK_CONTAINS(err, "t: Token longer than 4095 bytes");
    /* No Expiration: treated as valid for 15 minutes. */
    const char *noexp = "{\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"S\"}";
    CHECK_EQ_INT(creds_parse_json(noexp, strlen(noexp), "t", &c, err, sizeof(err)), 0);
    int64_t in = c.expires_wall_ms - loop_wall_ms();
    CHECK(in > 14 * 60000 && in < 16 * 60000);
}

int main(void)
{
    char logpath[128];
    int saved = creds_kit_start(logpath, sizeof(logpath));
    if (saved == -1)
        return 1;

    CHECK_EQ_INT(loop_init(), 0);
    test_expiration_and_json();
    test_env_and_file();
    test_ini_errors();
    test_systemd_credential();
    creds_fini();
    loop_fini();
    return creds_kit_finish(saved, logpath,
                            "msg=\"aws credentials loaded\" source=environment expires=never");
}
