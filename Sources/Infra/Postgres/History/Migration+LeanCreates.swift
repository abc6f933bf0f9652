extension Migration {
    /// A create does less, measured with `perf` on Postgres under the create benchmark:
    /// - One `UPDATE` of the tenant row takes its lock, checks the quota and counts the agent. Before,
    ///   a `SELECT … FOR UPDATE` locked the row (a WAL record of its own) and a trigger on the insert
    ///   updated it again. The trigger now counts deletes and restores only: every insert goes through
    ///   `ams_create_agent`.
    /// - `agent_versions` loses its foreign key: the check was a query and a row lock on the agent just
    ///   inserted, per version. Versions are only written by the functions that wrote their agent in
    ///   the same statement, and the purge deletes them with it.
    /// - The history row and the notice are written inline: a new agent's revision is 1.
    /// - Migration 2's create, which only the release before migration 3 called, is dropped: it
    ///   counted through the trigger, so it would now let the counter fall behind. Such a replica's
    ///   creates fail instead.
    static let leanCreates: [String] = [
        "SET LOCAL lock_timeout = '10s'",
        "DROP FUNCTION ams_create_agent(text, text, jsonb, uuid, text, text, text, jsonb, jsonb, timestamptz, text)",
        "ALTER TABLE agent_versions DROP CONSTRAINT agent_versions_agent_id_fkey",
        """
        CREATE POLICY purge_read ON agent_versions FOR SELECT USING (current_setting('app.purge', true) = 'on')
        """,
        """
        CREATE POLICY purge_delete ON agent_versions FOR DELETE USING (current_setting('app.purge', true) = 'on')
        """,
        """
        CREATE OR REPLACE FUNCTION ams_purge_deleted(p_retention interval, p_batch integer) RETURNS integer LANGUAGE plpgsql AS $$
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
                    SELECT id FROM agents WHERE deleted_at IS NOT NULL AND deleted_at < now() - p_retention LIMIT p_batch)
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
        $$
        """,
        """
        CREATE OR REPLACE FUNCTION ams_count_agents() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF (OLD.deleted_at IS NULL) <> (NEW.deleted_at IS NULL) THEN
                UPDATE tenants SET agent_count = agent_count + CASE WHEN NEW.deleted_at IS NULL THEN 1 ELSE -1 END
                WHERE tenant_id = NEW.tenant_id;
            END IF;
            RETURN NULL;
        END
        $$
        """,
        "DROP TRIGGER agents_count ON agents",
        "CREATE TRIGGER agents_count AFTER UPDATE OF deleted_at ON agents FOR EACH ROW EXECUTE FUNCTION ams_count_agents()",
        // Same arguments and result as migration 3's: NULL when created, else the tier whose quota is full.
        """
        CREATE OR REPLACE FUNCTION ams_create_agent(
            p_tenant text, p_default_tier text, p_limits jsonb, p_id uuid, p_name text, p_type text, p_status text,
            p_config jsonb, p_validation jsonb, p_at timestamptz, p_by text, p_roles jsonb, p_request_id text, p_changes jsonb,
            p_template_id text, p_template_version integer
        ) RETURNS text LANGUAGE plpgsql AS $$
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
            INSERT INTO agent_history (tenant_id, agent_id, action, actor, roles, at, request_id, version)
            VALUES (p_tenant, p_id, 'created', p_by, p_roles, p_at, p_request_id, 1);
            PERFORM pg_notify('agent_management_changes',
                json_build_object('kind', 'agent', 'tenant_id', p_tenant, 'agent_id', p_id, 'revision', 1)::text);
            RETURN NULL;
        END
        $$
        """,
    ]
}
