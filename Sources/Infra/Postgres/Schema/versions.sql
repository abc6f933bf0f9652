-- Versions and history: immutable snapshots, the audit trail, and the aliases that point at versions.
-- The current definitions, applied after the numbered history (see SchemaDefinitions.swift).

CREATE OR REPLACE FUNCTION ams_record(p_tenant text, p_id uuid, p_action text, p_by text, p_roles jsonb, p_at timestamp with time zone, p_request_id text, p_version integer, p_changes jsonb, p_details jsonb)
 RETURNS void
 LANGUAGE plpgsql
AS $function$
BEGIN
    INSERT INTO agent_history (tenant_id, agent_id, action, actor, roles, at, request_id, version, changes, details)
    VALUES (p_tenant, p_id, p_action, p_by, p_roles, p_at, p_request_id, p_version, p_changes, p_details);
END
$function$;

DROP POLICY IF EXISTS tenant_isolation ON agent_versions;
CREATE POLICY tenant_isolation ON agent_versions
    USING (tenant_id = current_setting('app.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('app.tenant_id', true));

DROP POLICY IF EXISTS tenant_isolation ON agent_history;
CREATE POLICY tenant_isolation ON agent_history
    USING (tenant_id = current_setting('app.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('app.tenant_id', true));

DROP POLICY IF EXISTS tenant_isolation ON agent_aliases;
CREATE POLICY tenant_isolation ON agent_aliases
    USING (tenant_id = current_setting('app.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('app.tenant_id', true));

-- Cross-tenant rows are for the tables' owner only (TO CURRENT_USER names the role installing the policy), in the
-- SECURITY DEFINER functions doing that work: a role of the service that sets the same setting sees nothing more.
DROP POLICY IF EXISTS purge_read ON agent_versions;
CREATE POLICY purge_read ON agent_versions FOR SELECT TO CURRENT_USER USING (current_setting('app.purge', true) = 'on');

DROP POLICY IF EXISTS purge_delete ON agent_versions;
CREATE POLICY purge_delete ON agent_versions FOR DELETE TO CURRENT_USER USING (current_setting('app.purge', true) = 'on');
