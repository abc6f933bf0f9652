-- Agents and the quota: every agent write is one statement that sets the tenant, writes, and records its version and history.
-- The current definitions, applied after the numbered history (see SchemaDefinitions.swift).

-- Retired: the writes of migration 2, kept for the rolling deploy to migration 3.
DROP FUNCTION IF EXISTS ams_update_agent(text, uuid, integer, text, text, text, jsonb, jsonb, timestamptz, text);
DROP FUNCTION IF EXISTS ams_delete_agent(text, uuid);

-- One round trip for a read of one agent, where a transaction around `set_config` would take four.
CREATE OR REPLACE FUNCTION ams_agent(p_tenant text, p_id uuid)
 RETURNS SETOF agents
 LANGUAGE plpgsql
AS $function$
BEGIN
    PERFORM set_config('app.tenant_id', p_tenant, true);
    RETURN QUERY SELECT * FROM agents WHERE tenant_id = p_tenant AND id = p_id AND deleted_at IS NULL;
END
$function$;

-- Same arguments and result as migration 3's: NULL when created, else the tier whose quota is full.
CREATE OR REPLACE FUNCTION ams_create_agent(p_tenant text, p_default_tier text, p_limits jsonb, p_id uuid, p_name text, p_type text, p_status text, p_config jsonb, p_validation jsonb, p_at timestamp with time zone, p_by text, p_roles jsonb, p_request_id text, p_changes jsonb, p_template_id text, p_template_version integer)
 RETURNS text
 LANGUAGE plpgsql
AS $function$
DECLARE
    v_tier text;
BEGIN
    PERFORM set_config('app.tenant_id', p_tenant, true);
    -- A parallel create waits for the lock, then sees the count it left (READ COMMITTED re-checks).
    UPDATE tenants SET agent_count = agent_count + 1
    WHERE tenant_id = p_tenant AND agent_count < coalesce((p_limits ->> tier)::int, 0)
    RETURNING tier INTO v_tier;
    IF NOT FOUND THEN
        INSERT INTO tenants (tenant_id, tier) VALUES (p_tenant, p_default_tier) ON CONFLICT (tenant_id) DO NOTHING;
        UPDATE tenants SET agent_count = agent_count + 1
        WHERE tenant_id = p_tenant AND agent_count < coalesce((p_limits ->> tier)::int, 0)
        RETURNING tier INTO v_tier;
        IF NOT FOUND THEN
            SELECT tier INTO v_tier FROM tenants WHERE tenant_id = p_tenant;
            RETURN v_tier;
        END IF;
    END IF;
    INSERT INTO agents (id, tenant_id, name, type, status, version, config, validation,
                        created_at, updated_at, created_by, updated_by, template_id, template_version)
    VALUES (p_id, p_tenant, p_name, p_type, p_status, 1, p_config, p_validation, p_at, p_at, p_by, p_by,
            p_template_id, p_template_version);
    IF p_template_id IS NOT NULL THEN
        INSERT INTO template_usage (tenant_id, template_id, count) VALUES (p_tenant, p_template_id, 1)
        ON CONFLICT (tenant_id, template_id) DO UPDATE SET count = template_usage.count + 1;
    END IF;
    INSERT INTO agent_versions (tenant_id, agent_id, version, config, validation, changes, created_at, created_by, request_id)
    VALUES (p_tenant, p_id, 1, p_config, p_validation, p_changes, p_at, p_by, p_request_id);
    PERFORM ams_record_change(p_tenant, p_id, 'created', p_by, p_roles, p_at, p_request_id, 1, NULL, NULL,
        p_name, p_type, p_status, p_validation, NULL);
    RETURN NULL;
END
$function$;

-- Waiting creates of any tenants in one transaction (group commit), each as `ams_create_agent` in a
-- block of its own: per create (`n`, its place in `p_creates`), the tier whose quota was full, or the
-- unique constraint it violated, or 'busy' when its tenant's row stayed locked past 100 ms (that
-- create alone undone: the caller writes it alone, waiting as long as a single create would, so a
-- tenant held by a long write holds up no other tenant's create), or neither when it was created.
-- Tenants are taken in their order, so that batches in flight together lock tenant rows in one order.
-- Each create's event keeps its own request's trace (`traceparent`), not the batch leader's.
CREATE OR REPLACE FUNCTION ams_create_agents(p_default_tier text, p_limits jsonb, p_creates jsonb)
 RETURNS TABLE(n integer, full_tier text, violated text)
 LANGUAGE plpgsql
AS $function$
DECLARE
    c jsonb;
BEGIN
    PERFORM set_config('lock_timeout', '100ms', true);
    FOR c, n IN SELECT e.value, e.n FROM jsonb_array_elements(p_creates) WITH ORDINALITY AS e(value, n) ORDER BY e.value ->> 'tenant', e.n LOOP
        full_tier := NULL;
        violated := NULL;
        PERFORM set_config('app.traceparent', coalesce(c ->> 'traceparent', ''), true);
        BEGIN
            full_tier := ams_create_agent(c ->> 'tenant', p_default_tier, p_limits, (c ->> 'id')::uuid, c ->> 'name', c ->> 'type',
                c ->> 'status', c -> 'config', c -> 'validation',
                to_timestamp((c ->> 'seconds')::bigint) + ((c ->> 'microseconds') || ' microseconds')::interval, c ->> 'by',
                c -> 'roles', c ->> 'request_id', c -> 'changes', c ->> 'template_id', (c ->> 'template_version')::integer);
        EXCEPTION
            WHEN unique_violation THEN
                GET STACKED DIAGNOSTICS violated = CONSTRAINT_NAME;
            WHEN lock_not_available THEN
                violated := 'busy';
        END;
        RETURN NEXT;
    END LOOP;
END
$function$;

-- Optimistic on the revision: returns the new version, or NULL when the row moved on or is gone.
CREATE OR REPLACE FUNCTION ams_update_agent(p_tenant text, p_id uuid, p_revision integer, p_name text, p_type text, p_config jsonb, p_validation jsonb, p_at timestamp with time zone, p_by text, p_roles jsonb, p_request_id text, p_action text, p_changes jsonb)
 RETURNS integer
 LANGUAGE plpgsql
AS $function$
DECLARE
    v_version integer;
    v_status text;
BEGIN
    PERFORM set_config('app.tenant_id', p_tenant, true);
    UPDATE agents SET name = p_name, type = p_type, version = version + 1, config = p_config,
        validation = p_validation, updated_at = p_at, updated_by = p_by
    WHERE tenant_id = p_tenant AND id = p_id AND deleted_at IS NULL AND revision = p_revision
    RETURNING version, status INTO v_version, v_status;
    IF v_version IS NULL THEN
        RETURN NULL;
    END IF;
    INSERT INTO agent_versions (tenant_id, agent_id, version, config, validation, changes, created_at, created_by, request_id)
    VALUES (p_tenant, p_id, v_version, p_config, p_validation, p_changes, p_at, p_by, p_request_id);
    PERFORM ams_record_change(p_tenant, p_id, p_action, p_by, p_roles, p_at, p_request_id, v_version, NULL, NULL,
        p_name, p_type, v_status, p_validation, p_changes);
    RETURN v_version;
END
$function$;

-- Waiting updates of any tenants' agents in one transaction (group commit), each as `ams_update_agent`
-- in a block of its own: per update (`n`, its place in `p_updates`), the new version (NULL when the
-- row moved on or is gone), or the unique constraint it violated, or 'busy' when its row stayed
-- locked past 100 ms (that update alone undone, for the caller to write alone). Rows are taken in
-- (tenant, agent) order, so that batches in flight together lock them in one order. Each update's
-- event keeps its own request's trace (`traceparent`), not the batch leader's.
CREATE OR REPLACE FUNCTION ams_update_agents(p_updates jsonb)
 RETURNS TABLE(n integer, version integer, violated text)
 LANGUAGE plpgsql
AS $function$
DECLARE
    u jsonb;
BEGIN
    PERFORM set_config('lock_timeout', '100ms', true);
    FOR u, n IN SELECT e.value, e.n FROM jsonb_array_elements(p_updates) WITH ORDINALITY AS e(value, n)
        ORDER BY e.value ->> 'tenant', e.value ->> 'id', e.n LOOP
        version := NULL;
        violated := NULL;
        PERFORM set_config('app.traceparent', coalesce(u ->> 'traceparent', ''), true);
        BEGIN
            version := ams_update_agent(u ->> 'tenant', (u ->> 'id')::uuid, (u ->> 'revision')::integer, u ->> 'name', u ->> 'type',
                u -> 'config', u -> 'validation',
                to_timestamp((u ->> 'seconds')::bigint) + ((u ->> 'microseconds') || ' microseconds')::interval, u ->> 'by',
                u -> 'roles', u ->> 'request_id', u ->> 'action', u -> 'changes');
        EXCEPTION
            WHEN unique_violation THEN
                GET STACKED DIAGNOSTICS violated = CONSTRAINT_NAME;
            WHEN lock_not_available THEN
                violated := 'busy';
        END;
        RETURN NEXT;
    END LOOP;
END
$function$;

-- A lifecycle move: the status changes, the version does not. Returns whether it was written.
CREATE OR REPLACE FUNCTION ams_set_agent_status(p_tenant text, p_id uuid, p_revision integer, p_status text, p_config jsonb, p_at timestamp with time zone, p_by text, p_roles jsonb, p_request_id text, p_details jsonb)
 RETURNS boolean
 LANGUAGE plpgsql
AS $function$
DECLARE
    v_version integer;
    v_name text;
    v_type text;
    v_validation jsonb;
BEGIN
    PERFORM set_config('app.tenant_id', p_tenant, true);
    UPDATE agents SET status = p_status, config = p_config, updated_at = p_at, updated_by = p_by
    WHERE tenant_id = p_tenant AND id = p_id AND deleted_at IS NULL AND revision = p_revision
    RETURNING version, name, type, validation INTO v_version, v_name, v_type, v_validation;
    IF v_version IS NULL THEN
        RETURN false;
    END IF;
    PERFORM ams_record_change(p_tenant, p_id, 'status_changed', p_by, p_roles, p_at, p_request_id, v_version, NULL, p_details,
        v_name, v_type, p_status, v_validation, NULL);
    RETURN true;
END
$function$;

-- The agent's stored validation, replaced without a new version (the configuration is the
-- same), if the row is still at `p_revision`; recorded as `validated`.
CREATE OR REPLACE FUNCTION ams_set_validation(p_tenant text, p_id uuid, p_revision integer, p_validation jsonb, p_at timestamp with time zone, p_by text, p_roles jsonb, p_request_id text)
 RETURNS boolean
 LANGUAGE plpgsql
AS $function$
DECLARE
    v_version integer;
    v_name text;
    v_type text;
    v_status text;
BEGIN
    PERFORM set_config('app.tenant_id', p_tenant, true);
    UPDATE agents SET validation = p_validation
    WHERE tenant_id = p_tenant AND id = p_id AND deleted_at IS NULL AND revision = p_revision
    RETURNING version, name, type, status INTO v_version, v_name, v_type, v_status;
    IF v_version IS NULL THEN
        RETURN false;
    END IF;
    PERFORM ams_record_change(p_tenant, p_id, 'validated', p_by, p_roles, p_at, p_request_id, v_version, NULL,
        jsonb_build_object('status', p_validation ->> 'status'), v_name, v_type, v_status, p_validation, NULL);
    RETURN true;
END
$function$;

-- No row: nothing live to delete. Otherwise whether it was deleted, and its version.
CREATE OR REPLACE FUNCTION ams_delete_agent(p_tenant text, p_id uuid, p_version integer, p_at timestamp with time zone, p_by text, p_roles jsonb, p_request_id text)
 RETURNS TABLE(deleted boolean, version integer)
 LANGUAGE plpgsql
AS $function$
DECLARE
    v_version integer;
    v_name text;
    v_type text;
    v_status text;
    v_validation jsonb;
BEGIN
    PERFORM set_config('app.tenant_id', p_tenant, true);
    -- The tenant first, as creates and restores lock it (the counter trigger would lock it
    -- after the agent otherwise, and deletes inside an apply could deadlock with them).
    PERFORM 1 FROM tenants WHERE tenant_id = p_tenant FOR UPDATE;
    SELECT a.version, a.name, a.type, a.status, a.validation INTO v_version, v_name, v_type, v_status, v_validation FROM agents a
    WHERE a.tenant_id = p_tenant AND a.id = p_id AND a.deleted_at IS NULL FOR UPDATE;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    IF p_version IS NOT NULL AND p_version <> v_version THEN
        RETURN QUERY SELECT false, v_version;
        RETURN;
    END IF;
    UPDATE agents a SET deleted_at = p_at WHERE a.tenant_id = p_tenant AND a.id = p_id;
    PERFORM ams_record_change(p_tenant, p_id, 'deleted', p_by, p_roles, p_at, p_request_id, v_version, NULL, NULL,
        v_name, v_type, v_status, v_validation, NULL);
    RETURN QUERY SELECT true, v_version;
END
$function$;

-- 'restored', 'missing', or the tenant's tier when its quota is full. A live agent holding the
-- name fails the unique index (23505), which the service reports as a name conflict.
CREATE OR REPLACE FUNCTION ams_restore_agent(p_tenant text, p_default_tier text, p_limits jsonb, p_id uuid, p_retention interval, p_at timestamp with time zone, p_by text, p_roles jsonb, p_request_id text)
 RETURNS text
 LANGUAGE plpgsql
AS $function$
DECLARE
    v_tier text;
    v_count integer;
    v_version integer;
    v_name text;
    v_type text;
    v_status text;
    v_validation jsonb;
BEGIN
    PERFORM set_config('app.tenant_id', p_tenant, true);
    SELECT tier, agent_count INTO v_tier, v_count FROM tenants WHERE tenant_id = p_tenant FOR UPDATE;
    IF NOT FOUND THEN
        RETURN 'missing';
    END IF;
    PERFORM 1 FROM agents WHERE tenant_id = p_tenant AND id = p_id
        AND deleted_at IS NOT NULL AND deleted_at > p_at - p_retention FOR UPDATE;
    IF NOT FOUND THEN
        RETURN 'missing';
    END IF;
    IF v_count >= coalesce((p_limits ->> v_tier)::int, 0) THEN
        RETURN v_tier;
    END IF;
    UPDATE agents SET deleted_at = NULL, updated_at = p_at, updated_by = p_by
    WHERE tenant_id = p_tenant AND id = p_id
    RETURNING version, name, type, status, validation INTO v_version, v_name, v_type, v_status, v_validation;
    PERFORM ams_record_change(p_tenant, p_id, 'restored', p_by, p_roles, p_at, p_request_id, v_version, NULL, NULL,
        v_name, v_type, v_status, v_validation, NULL);
    RETURN 'restored';
END
$function$;

-- Agents deleted longer ago than the retention (at least an hour, whatever the caller asks: the
-- service's role cannot empty every tenant's bin), and idempotency keys past a day, a batch at a time.
CREATE OR REPLACE FUNCTION ams_purge_deleted(p_retention interval, p_batch integer)
 RETURNS integer
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
DECLARE
    v_count integer;
    v_keys integer;
BEGIN
    IF NOT pg_try_advisory_xact_lock(1095586611) THEN
        RETURN 0;
    END IF;
    PERFORM set_config('app.purge', 'on', true);
    WITH gone AS (
        DELETE FROM agents WHERE id IN (
            SELECT id FROM agents WHERE deleted_at IS NOT NULL AND deleted_at < now() - greatest(p_retention, interval '1 hour')
            LIMIT p_batch)
        RETURNING id
    ), versions AS (
        DELETE FROM agent_versions USING gone WHERE agent_versions.agent_id = gone.id
    )
    SELECT count(*) INTO v_count FROM gone;
    DELETE FROM idempotency_keys WHERE (tenant_id, key) IN (
        SELECT tenant_id, key FROM idempotency_keys WHERE created_at < now() - interval '24 hours' LIMIT p_batch);
    GET DIAGNOSTICS v_keys = ROW_COUNT;
    RETURN greatest(v_count, v_keys);
END
$function$;

CREATE OR REPLACE FUNCTION ams_count_agents()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
BEGIN
    IF (OLD.deleted_at IS NULL) <> (NEW.deleted_at IS NULL) THEN
        UPDATE tenants SET agent_count = agent_count + CASE WHEN NEW.deleted_at IS NULL THEN 1 ELSE -1 END
        WHERE tenant_id = NEW.tenant_id;
    END IF;
    RETURN NULL;
END
$function$;

CREATE OR REPLACE FUNCTION ams_bump_revision()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
BEGIN
    NEW.revision := OLD.revision + 1;
    RETURN NEW;
END
$function$;

CREATE OR REPLACE TRIGGER agents_count AFTER UPDATE OF deleted_at ON agents FOR EACH ROW EXECUTE FUNCTION ams_count_agents();

CREATE OR REPLACE TRIGGER agents_revision BEFORE UPDATE ON agents FOR EACH ROW EXECUTE FUNCTION ams_bump_revision();

DROP POLICY IF EXISTS tenant_isolation ON agents;
CREATE POLICY tenant_isolation ON agents
    USING (tenant_id = current_setting('app.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('app.tenant_id', true));

-- Cross-tenant rows are for the tables' owner only (TO CURRENT_USER names the role installing the policy), in the
-- SECURITY DEFINER functions doing that work: a role of the service that sets the same setting sees nothing more.
DROP POLICY IF EXISTS purge_read ON agents;
CREATE POLICY purge_read ON agents FOR SELECT TO CURRENT_USER
    USING (deleted_at IS NOT NULL AND current_setting('app.purge', true) = 'on');

DROP POLICY IF EXISTS purge_delete ON agents;
CREATE POLICY purge_delete ON agents FOR DELETE TO CURRENT_USER
    USING (deleted_at IS NOT NULL AND current_setting('app.purge', true) = 'on');
