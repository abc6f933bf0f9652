-- Versions and history: immutable snapshots, the audit trail, and the aliases that point at versions.
-- The current definitions, applied after the numbered history (see SchemaDefinitions.swift).

-- A history entry from a caller that does not say what its event names: the agent is read for it.
CREATE OR REPLACE FUNCTION ams_record(p_tenant text, p_id uuid, p_action text, p_by text, p_roles jsonb, p_at timestamp with time zone, p_request_id text, p_version integer, p_changes jsonb, p_details jsonb)
 RETURNS void
 LANGUAGE plpgsql
AS $function$
DECLARE
    v_name text;
    v_type text;
    v_status text;
    v_validation jsonb;
BEGIN
    SELECT name, type, status, validation INTO v_name, v_type, v_status, v_validation FROM agents WHERE id = p_id;
    PERFORM ams_record_change(p_tenant, p_id, p_action, p_by, p_roles, p_at, p_request_id, p_version, p_changes, p_details,
        v_name, v_type, v_status, v_validation,
        CASE WHEN p_action IN ('updated', 'rolled_back') AND p_changes IS NULL THEN
            (SELECT changes FROM agent_versions WHERE agent_id = p_id AND version = p_version) END);
END
$function$;

-- The history entry and its event (for the actions that have one) in one statement, from what the
-- writer knows of the agent after the change: its name, type, status and validation, and the
-- changes of the version it made. A change made by a task names the task, and its global id.
CREATE OR REPLACE FUNCTION ams_record_change(p_tenant text, p_id uuid, p_action text, p_by text, p_roles jsonb, p_at timestamp with time zone, p_request_id text, p_version integer, p_changes jsonb, p_details jsonb, p_name text, p_type text, p_status text, p_validation jsonb, p_version_changes jsonb)
 RETURNS void
 LANGUAGE plpgsql
AS $function$
DECLARE
    v_event text;
    v_data jsonb;
    v_task uuid;
    v_global text;
BEGIN
    CASE p_action
        WHEN 'created' THEN
            v_event := 'agent_created';
            v_data := jsonb_build_object('agent_id', p_id, 'agent_name', p_name, 'agent_type', p_type,
                'version', p_version, 'status', p_status);
        WHEN 'updated', 'rolled_back' THEN
            v_event := 'agent_updated';
            v_data := jsonb_build_object('agent_id', p_id, 'agent_name', p_name, 'version', p_version,
                'changes', coalesce(p_changes, p_version_changes, '[]'));
        WHEN 'status_changed' THEN
            v_event := 'agent_status_changed';
            v_data := jsonb_build_object('agent_id', p_id, 'agent_name', p_name, 'from', p_details -> 'from',
                'to', p_details -> 'to', 'reason', p_details -> 'reason');
        WHEN 'deleted' THEN
            v_event := 'agent_deleted';
            v_data := jsonb_build_object('agent_id', p_id, 'agent_name', p_name);
        WHEN 'restored' THEN
            v_event := 'agent_restored';
            v_data := jsonb_build_object('agent_id', p_id, 'agent_name', p_name);
        WHEN 'validated' THEN
            v_event := 'agent_validated';
            v_data := jsonb_build_object('agent_id', p_id, 'agent_name', p_name, 'version', p_version,
                'status', p_validation -> 'status', 'issues', coalesce(p_validation -> 'issues', '[]'));
        ELSE
            INSERT INTO agent_history (tenant_id, agent_id, action, actor, roles, at, request_id, version, changes, details)
            VALUES (p_tenant, p_id, p_action, p_by, p_roles, p_at, p_request_id, p_version, p_changes, p_details);
            RETURN;
    END CASE;
    IF p_request_id LIKE 'task:%' AND p_request_id ~ '^task:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' THEN
        v_task := substr(p_request_id, 6)::uuid;
        SELECT message ->> 'global_task_id' INTO v_global FROM tasks WHERE tenant_id = p_tenant AND id = v_task;
    END IF;
    WITH entry AS (
        INSERT INTO agent_history (tenant_id, agent_id, action, actor, roles, at, request_id, version, changes, details)
        VALUES (p_tenant, p_id, p_action, p_by, p_roles, p_at, p_request_id, p_version, p_changes, p_details)
    )
    INSERT INTO outbox (tenant_id, event, agent_id, task_id, global_task_id, data)
    VALUES (p_tenant, v_event, p_id, v_task, v_global, v_data);
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
