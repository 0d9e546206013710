-- A study user belongs to the identity that created it (an email, `token:{name}`,
-- or `local`): only that identity changes its progress, and only admins read anyone
-- else's. NULL for users from before identities (imported legacy users): admins see
-- them, nobody writes them through the portal.
ALTER TABLE study_users ADD COLUMN owner TEXT;

-- One study user per identity and property, so two first visits at once make one.
CREATE UNIQUE INDEX study_users_owner ON study_users (property, owner) WHERE owner IS NOT NULL;
