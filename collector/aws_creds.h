/* aws_creds: AWS credential providers: the SDK default chain, STS AssumeRole, refresh.
 *
 * DESIGN: a provider caches one set of credentials behind a mutex and fetches new ones
 * when they are within AWS_CREDS_REFRESH_MARGIN_S of their expiry (or after
 * aws_creds_invalidate()). The chain provider picks its source on the first get, in the
 * order of the SDKs: static settings keys, environment, an assume-role profile
 * (role_arn + source_profile / credential_source / web_identity_token_file), web identity
 * from the environment, the profile's keys in the shared credentials file then the config
 * file, container credentials (ECS/EKS), IMDSv2; then it sticks to that source and only
 * refreshes it. When settings.role_arn is set the chain's credentials are used to assume
 * that role (with external id and session name). Secrets are never logged: log lines name
 * the source and at most the last four characters of the access key id.
 */
#ifndef IPAMWATCH_AWS_CREDS_H
#define IPAMWATCH_AWS_CREDS_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "collector/aws_client.h"

#define AWS_CREDS_REFRESH_MARGIN_S 300

/* One set of credentials; strings owned by the struct (aws_credentials_clear frees and
 * wipes them). */
struct aws_credentials {
    char *access_key_id;
    char *secret_access_key;
    char *session_token; /* NULL for long-term keys */
    time_t expiration;   /* 0 = does not expire */
    char source[96];     /* "environment", "profile prod (shared credentials file)", ... */
};
void aws_credentials_clear(struct aws_credentials *c);
/* Deep copy. */
void aws_credentials_copy(struct aws_credentials *dst, const struct aws_credentials *src);

typedef struct aws_creds aws_creds_t;

/* The default chain (see DESIGN), plus settings.role_arn on top when set. `s` is copied.
 * Nothing is fetched before the first aws_creds_get(). Returns NULL with text in err only
 * for invalid settings. Any thread. */
aws_creds_t *aws_creds_new_chain(const struct aws_settings *s, char *err, size_t errlen);

/* Fixed keys (copied); token may be NULL. Never NULL. */
aws_creds_t *aws_creds_new_static(const char *access_key_id, const char *secret_access_key,
                                  const char *session_token);

/* Assumes `role_arn` (with optional external id and session name, default "ipamwatch")
 * through STS in the settings' region, signing with `base` (borrowed: it must outlive the
 * new provider), e.g. to read CloudTrail in another account. `s` is copied. Returns NULL
 * with text in err on invalid arguments; the STS call happens on the first get. */
aws_creds_t *aws_creds_new_assume_role(aws_creds_t *base, const struct aws_settings *s,
                                       const char *role_arn, const char *external_id,
                                       const char *session_name, char *err, size_t errlen);

/* Frees the provider; NULL is a no-op. No get may be running. */
void aws_creds_free(aws_creds_t *p);

/* Copies valid credentials into *out (clear it with aws_credentials_clear), fetching or
 * refreshing them first when needed. Returns 0, or -errno with text in err (-ENOENT: no
 * source in the chain has credentials; -EACCES: the source refused; -EIO/-ETIMEDOUT:
 * the source could not be reached; -EINVAL: bad file or response). Thread-safe. */
int aws_creds_get(aws_creds_t *p, struct aws_credentials *out, char *err, size_t errlen);

/* Marks the cached credentials stale so the next get fetches new ones (after an
 * expired-credentials answer). Thread-safe. */
void aws_creds_invalidate(aws_creds_t *p);

/* The default region: settings.region, AWS_REGION, AWS_DEFAULT_REGION, the profile's
 * `region` in the config file, else "us-east-1". Returns an owned string. Any thread. */
char *aws_creds_default_region(const struct aws_settings *s);

/* ---- Shared config and credentials files (exposed for tests) ------------------------ */

typedef struct aws_profile aws_profile_t;

/* Loads profile `name` from the config file (section "[profile name]", or "[default]")
 * and the credentials file (section "[name]"), keys of the credentials file winning.
 * Paths NULL = AWS_CONFIG_FILE / AWS_SHARED_CREDENTIALS_FILE / ~/.aws/...; a missing file
 * is no error. Returns 0 and *out (owned; aws_profile_free) also when the profile is in
 * neither file (then aws_profile_exists() is false); -EINVAL with "path:line: reason" in
 * err for a malformed file, -EIO when a file cannot be read. Any thread. */
int aws_profile_load(const char *name, const char *config_path, const char *creds_path,
                     aws_profile_t **out, char *err, size_t errlen);
void aws_profile_free(aws_profile_t *p);
bool aws_profile_exists(const aws_profile_t *p);
/* The value of `key` in the profile, or NULL; borrowed. */
const char *aws_profile_get(const aws_profile_t *p, const char *key);
/* Which file gave `key`: the path, or NULL. Borrowed. */
const char *aws_profile_origin(const aws_profile_t *p, const char *key);

#endif
