extension Migration {
    /// Immutable versions, the audit trail, lifecycle, and soft delete with restore and purge.
    ///
    /// - `agents.revision` counts every write of the row (a trigger keeps it, whoever writes), while
    ///   `version` counts configurations; change notices now carry the revision under `revision`, so
    ///   replicas of the previous release, which read `version`, drop what they cached instead.
    /// - The write functions gain overloads that also write the version row and the history entry in
    ///   their one statement. The previous signatures stay for replicas of the previous release during
    ///   a rolling deploy; their writes make no version row, which the versions list shows as a gap.
    /// - Agents that exist now get one snapshot of their current version (empty `changes`).
    /// - A history entry of an action that made a version keeps no copy of its `changes`: they are
    ///   read from the version, which lives as long as the agent (and history is read only then).
    /// - Idempotency keys of POSTs live 24 hours; the purge removes older ones.
    /// - Aliases name versions per agent; moving one is recorded in history.
    /// - Tenants' own templates, and per tenant how many agents each template (system ones
    ///   included) started; an agent records the template and version it came from.
    static let versions: [String] = [
        "ALTER TABLE agents ADD COLUMN revision integer NOT NULL DEFAULT 1",
        "ALTER TABLE agents ADD COLUMN template_id text",
        "ALTER TABLE agents ADD COLUMN template_version integer",
        """
        CREATE TABLE agent_templates (
            seq bigint GENERATED ALWAYS AS IDENTITY,
            id uuid PRIMARY KEY,
            tenant_id text NOT NULL,
            name text NOT NULL,
            description text,
            category text NOT NULL,
            type text NOT NULL,
            config jsonb NOT NULL,
            version integer NOT NULL,
            created_at timestamptz NOT NULL,
            updated_at timestamptz NOT NULL,
            created_by text NOT NULL,
            updated_by text NOT NULL
        )
        """,
        "CREATE UNIQUE INDEX agent_templates_name ON agent_templates (tenant_id, name)",
        "CREATE INDEX agent_templates_newest ON agent_templates (tenant_id, seq DESC)",
        """
        CREATE TABLE template_usage (
            tenant_id text NOT NULL,
            template_id text NOT NULL,
            count integer NOT NULL,
            PRIMARY KEY (tenant_id, template_id)
        )
        """,
        """
        CREATE TABLE agent_versions (
            tenant_id text NOT NULL,
            agent_id uuid NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
            version integer NOT NULL,
            config jsonb NOT NULL,
            validation jsonb NOT NULL,
            changes jsonb NOT NULL,
            created_at timestamptz NOT NULL,
            created_by text NOT NULL,
            request_id text,
            PRIMARY KEY (agent_id, version)
        )
        """,
        """
        CREATE TABLE agent_history (
            seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            tenant_id text NOT NULL,
            agent_id uuid NOT NULL,
            action text NOT NULL,
            actor text NOT NULL,
            roles jsonb NOT NULL,
            at timestamptz NOT NULL,
            request_id text,
            version integer,
            changes jsonb,
            details jsonb
        )
        """,
        "CREATE INDEX agent_history_agent ON agent_history (agent_id, seq DESC)",
        "CREATE INDEX agents_deleted ON agents (deleted_at) WHERE deleted_at IS NOT NULL",
        "ALTER TABLE agents NO FORCE ROW LEVEL SECURITY",
        "UPDATE agents SET revision = version",
        """
        CREATE FUNCTION ams_bump_revision() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            NEW.revision := OLD.revision + 1;
            RETURN NEW;
        END
        $$
        """,
        // After the backfill, which must not bump anything.
        "CREATE TRIGGER agents_revision BEFORE UPDATE ON agents FOR EACH ROW EXECUTE FUNCTION ams_bump_revision()",
        """
        INSERT INTO agent_versions (tenant_id, agent_id, version, config, validation, changes, created_at, created_by)
        SELECT tenant_id, id, version, config, validation, '[]', updated_at, updated_by FROM agents
        """,
        "ALTER TABLE agents FORCE ROW LEVEL SECURITY",
        // The purge is the one cross-tenant write: it sets `app.purge` and may then see and delete
        // soft-deleted rows only. Versions go with their agent (the cascade bypasses RLS); history stays.
        """
        CREATE POLICY purge_read ON agents FOR SELECT
            USING (deleted_at IS NOT NULL AND current_setting('app.purge', true) = 'on')
        """,
        """
        CREATE POLICY purge_delete ON agents FOR DELETE
            USING (deleted_at IS NOT NULL AND current_setting('app.purge', true) = 'on')
        """,
        // Idempotency keys: the first response to a POST, replayed to a retry with the same key and
        // body for 24 hours. `status` 0 marks a request still in progress.
        """
        CREATE TABLE idempotency_keys (
            tenant_id text NOT NULL,
            key text NOT NULL,
            fingerprint text NOT NULL,
            claim uuid NOT NULL,
            status integer NOT NULL DEFAULT 0,
            headers jsonb NOT NULL DEFAULT '{}',
            body bytea,
            created_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (tenant_id, key)
        )
        """,
        "CREATE INDEX idempotency_keys_age ON idempotency_keys (created_at)",
        """
        CREATE TABLE agent_aliases (
            tenant_id text NOT NULL,
            agent_id uuid NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
            name text NOT NULL,
            version integer NOT NULL,
            updated_at timestamptz NOT NULL,
            updated_by text NOT NULL,
            PRIMARY KEY (agent_id, name)
        )
        """,
        """
        CREATE POLICY purge_read ON idempotency_keys FOR SELECT
            USING (current_setting('app.purge', true) = 'on')
        """,
        """
        CREATE POLICY purge_delete ON idempotency_keys FOR DELETE
            USING (current_setting('app.purge', true) = 'on')
        """,
    ] + tenantIsolation("agent_versions") + tenantIsolation("agent_history") + tenantIsolation("idempotency_keys")
        + tenantIsolation("agent_aliases") + tenantIsolation("agent_templates") + tenantIsolation("template_usage") + [
        """
        CREATE OR REPLACE FUNCTION ams_change_notice(p_tenant text, p_id uuid, p_version integer, p_deleted boolean) RETURNS text
        LANGUAGE sql STABLE AS $$
            SELECT CASE WHEN p_deleted
                THEN json_build_object('kind', 'agent', 'tenant_id', p_tenant, 'agent_id', p_id, 'deleted', true)
                ELSE json_build_object('kind', 'agent', 'tenant_id', p_tenant, 'agent_id', p_id,
                    'revision', (SELECT revision FROM agents WHERE id = p_id))
            END::text
        $$
        """,
        """
        CREATE FUNCTION ams_record(
            p_tenant text, p_id uuid, p_action text, p_by text, p_roles jsonb, p_at timestamptz, p_request_id text,
            p_version integer, p_changes jsonb, p_details jsonb
        ) RETURNS void LANGUAGE sql AS $$
            INSERT INTO agent_history (tenant_id, agent_id, action, actor, roles, at, request_id, version, changes, details)
            VALUES (p_tenant, p_id, p_action, p_by, p_roles, p_at, p_request_id, p_version, p_changes, p_details)
        $$
        """,
        // As migration 2's, plus version 1's snapshot and the `created` entry.
        """
        CREATE FUNCTION ams_create_agent(
            p_tenant text, p_default_tier text, p_limits jsonb, p_id uuid, p_name text, p_type text, p_status text,
            p_config jsonb, p_validation jsonb, p_at timestamptz, p_by text, p_roles jsonb, p_request_id text, p_changes jsonb,
            p_template_id text, p_template_version integer
        ) RETURNS text LANGUAGE plpgsql AS $$
        DECLARE
            v_tier text;
            v_count integer;
        BEGIN
            PERFORM set_config('app.tenant_id', p_tenant, true);
            SELECT tier, agent_count INTO v_tier, v_count FROM tenants WHERE tenant_id = p_tenant FOR UPDATE;
            IF NOT FOUND THEN
                INSERT INTO tenants (tenant_id, tier) VALUES (p_tenant, p_default_tier) ON CONFLICT (tenant_id) DO NOTHING;
                SELECT tier, agent_count INTO v_tier, v_count FROM tenants WHERE tenant_id = p_tenant FOR UPDATE;
            END IF;
            IF v_count >= coalesce((p_limits ->> v_tier)::int, 0) THEN
                RETURN v_tier;
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
            PERFORM ams_record(p_tenant, p_id, 'created', p_by, p_roles, p_at, p_request_id, 1, NULL, NULL);
            PERFORM pg_notify('agent_management_changes', ams_change_notice(p_tenant, p_id, 1, false));
            RETURN NULL;
        END
        $$
        """,
        // Optimistic on the revision: returns the new version, or NULL when the row moved on or is gone.
        """
        CREATE FUNCTION ams_update_agent(
            p_tenant text, p_id uuid, p_revision integer, p_name text, p_type text, p_config jsonb, p_validation jsonb,
            p_at timestamptz, p_by text, p_roles jsonb, p_request_id text, p_action text, p_changes jsonb
        ) RETURNS integer LANGUAGE plpgsql AS $$
        DECLARE
            v_version integer;
        BEGIN
            PERFORM set_config('app.tenant_id', p_tenant, true);
            UPDATE agents SET name = p_name, type = p_type, version = version + 1, config = p_config,
                validation = p_validation, updated_at = p_at, updated_by = p_by
            WHERE tenant_id = p_tenant AND id = p_id AND deleted_at IS NULL AND revision = p_revision
            RETURNING version INTO v_version;
            IF v_version IS NULL THEN
                RETURN NULL;
            END IF;
            INSERT INTO agent_versions (tenant_id, agent_id, version, config, validation, changes, created_at, created_by, request_id)
            VALUES (p_tenant, p_id, v_version, p_config, p_validation, p_changes, p_at, p_by, p_request_id);
            PERFORM ams_record(p_tenant, p_id, p_action, p_by, p_roles, p_at, p_request_id, v_version, NULL, NULL);
            PERFORM pg_notify('agent_management_changes', ams_change_notice(p_tenant, p_id, v_version, false));
            RETURN v_version;
        END
        $$
        """,
        // A lifecycle move: the status changes, the version does not. Returns whether it was written.
        """
        CREATE FUNCTION ams_set_agent_status(
            p_tenant text, p_id uuid, p_revision integer, p_status text, p_config jsonb, p_at timestamptz, p_by text,
            p_roles jsonb, p_request_id text, p_details jsonb
        ) RETURNS boolean LANGUAGE plpgsql AS $$
        DECLARE
            v_version integer;
        BEGIN
            PERFORM set_config('app.tenant_id', p_tenant, true);
            UPDATE agents SET status = p_status, config = p_config, updated_at = p_at, updated_by = p_by
            WHERE tenant_id = p_tenant AND id = p_id AND deleted_at IS NULL AND revision = p_revision
            RETURNING version INTO v_version;
            IF v_version IS NULL THEN
                RETURN false;
            END IF;
            PERFORM ams_record(p_tenant, p_id, 'status_changed', p_by, p_roles, p_at, p_request_id, v_version, NULL, p_details);
            PERFORM pg_notify('agent_management_changes', ams_change_notice(p_tenant, p_id, v_version, false));
            RETURN true;
        END
        $$
        """,
        // No row: nothing live to delete. Otherwise whether it was deleted, and its version.
        """
        CREATE FUNCTION ams_delete_agent(
            p_tenant text, p_id uuid, p_version integer, p_at timestamptz, p_by text, p_roles jsonb, p_request_id text
        ) RETURNS TABLE (deleted boolean, version integer) LANGUAGE plpgsql AS $$
        DECLARE
            v_version integer;
        BEGIN
            PERFORM set_config('app.tenant_id', p_tenant, true);
            -- The tenant first, as creates and restores lock it (the counter trigger would lock it
            -- after the agent otherwise, and deletes inside an apply could deadlock with them).
            PERFORM 1 FROM tenants WHERE tenant_id = p_tenant FOR UPDATE;
            SELECT a.version INTO v_version FROM agents a
            WHERE a.tenant_id = p_tenant AND a.id = p_id AND a.deleted_at IS NULL FOR UPDATE;
            IF NOT FOUND THEN
                RETURN;
            END IF;
            IF p_version IS NOT NULL AND p_version <> v_version THEN
                RETURN QUERY SELECT false, v_version;
                RETURN;
            END IF;
            UPDATE agents a SET deleted_at = p_at WHERE a.tenant_id = p_tenant AND a.id = p_id;
            PERFORM ams_record(p_tenant, p_id, 'deleted', p_by, p_roles, p_at, p_request_id, v_version, NULL, NULL);
            PERFORM pg_notify('agent_management_changes', ams_change_notice(p_tenant, p_id, v_version, true));
            RETURN QUERY SELECT true, v_version;
        END
        $$
        """,
        // 'restored', 'missing', or the tenant's tier when its quota is full. A live agent holding the
        // name fails the unique index (23505), which the service reports as a name conflict.
        """
        CREATE FUNCTION ams_restore_agent(
            p_tenant text, p_default_tier text, p_limits jsonb, p_id uuid, p_retention interval, p_at timestamptz, p_by text,
            p_roles jsonb, p_request_id text
        ) RETURNS text LANGUAGE plpgsql AS $$
        DECLARE
            v_tier text;
            v_count integer;
            v_version integer;
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
            RETURNING version INTO v_version;
            PERFORM ams_record(p_tenant, p_id, 'restored', p_by, p_roles, p_at, p_request_id, v_version, NULL, NULL);
            PERFORM pg_notify('agent_management_changes', ams_change_notice(p_tenant, p_id, v_version, false));
            RETURN 'restored';
        END
        $$
        """,
        // One replica at a time (a transaction-scoped advisory lock, "AMS3"); the others purge
        // nothing. At most p_batch agents and keys per call, so a backlog goes in short statements.
        """
        CREATE FUNCTION ams_purge_deleted(p_retention interval, p_batch integer) RETURNS integer LANGUAGE plpgsql AS $$
        DECLARE
            v_count integer;
            v_keys integer;
        BEGIN
            IF NOT pg_try_advisory_xact_lock(1095586611) THEN
                RETURN 0;
            END IF;
            PERFORM set_config('app.purge', 'on', true);
            DELETE FROM agents WHERE id IN (
                SELECT id FROM agents WHERE deleted_at IS NOT NULL AND deleted_at < now() - p_retention LIMIT p_batch);
            GET DIAGNOSTICS v_count = ROW_COUNT;
            DELETE FROM idempotency_keys WHERE (tenant_id, key) IN (
                SELECT tenant_id, key FROM idempotency_keys WHERE created_at < now() - interval '24 hours' LIMIT p_batch);
            GET DIAGNOSTICS v_keys = ROW_COUNT;
            RETURN greatest(v_count, v_keys);
        END
        $$
        """,
    ]
}
