-- Idempotency keys: a stored answer per key, purged after their retention.
-- The current definitions, applied after the numbered history (see SchemaDefinitions.swift).

DROP POLICY IF EXISTS tenant_isolation ON idempotency_keys;
CREATE POLICY tenant_isolation ON idempotency_keys
    USING (tenant_id = current_setting('app.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('app.tenant_id', true));

-- Cross-tenant rows are for the tables' owner only (TO CURRENT_USER names the role installing the policy), in the
-- SECURITY DEFINER functions doing that work: a role of the service that sets the same setting sees nothing more.
DROP POLICY IF EXISTS purge_read ON idempotency_keys;
CREATE POLICY purge_read ON idempotency_keys FOR SELECT TO CURRENT_USER
    USING (current_setting('app.purge', true) = 'on');

DROP POLICY IF EXISTS purge_delete ON idempotency_keys;
CREATE POLICY purge_delete ON idempotency_keys FOR DELETE TO CURRENT_USER
    USING (current_setting('app.purge', true) = 'on');
