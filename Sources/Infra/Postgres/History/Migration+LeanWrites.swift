extension Migration {
    /// A per-tenant agent counter replaces `count(*)` on every create, and each write becomes one
    /// statement: a function that sets the tenant for Row-Level Security, writes, and announces the
    /// change, so a create costs one round trip and one implicit transaction. Later steps (versions,
    /// history, outbox) add their rows inside these functions. A trigger keeps the counter, so it stays
    /// exact whoever writes, replicas of the previous release during a rolling deploy included.
    static let leanWrites: [String] = [
        "ALTER TABLE tenants ADD COLUMN agent_count integer NOT NULL DEFAULT 0",
        // The backfill must see every tenant's rows: the owner bypasses RLS until FORCE is set again below.
        "ALTER TABLE tenants NO FORCE ROW LEVEL SECURITY",
        "ALTER TABLE agents NO FORCE ROW LEVEL SECURITY",
        """
        UPDATE tenants t SET agent_count = (
            SELECT count(*) FROM agents a WHERE a.tenant_id = t.tenant_id AND a.deleted_at IS NULL)
        """,
        "ALTER TABLE tenants FORCE ROW LEVEL SECURITY",
        "ALTER TABLE agents FORCE ROW LEVEL SECURITY",
        """
        CREATE FUNCTION ams_count_agents() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'INSERT' AND NEW.deleted_at IS NULL THEN
                UPDATE tenants SET agent_count = agent_count + 1 WHERE tenant_id = NEW.tenant_id;
            ELSIF TG_OP = 'UPDATE' AND (OLD.deleted_at IS NULL) <> (NEW.deleted_at IS NULL) THEN
                UPDATE tenants SET agent_count = agent_count + CASE WHEN NEW.deleted_at IS NULL THEN 1 ELSE -1 END
                WHERE tenant_id = NEW.tenant_id;
            END IF;
            RETURN NULL;
        END
        $$
        """,
        """
        CREATE TRIGGER agents_count AFTER INSERT OR UPDATE OF deleted_at ON agents
            FOR EACH ROW EXECUTE FUNCTION ams_count_agents()
        """,
        """
        CREATE FUNCTION ams_change_notice(p_tenant text, p_id uuid, p_version integer, p_deleted boolean) RETURNS text
        LANGUAGE sql IMMUTABLE AS $$
            SELECT CASE WHEN p_deleted
                THEN json_build_object('kind', 'agent', 'tenant_id', p_tenant, 'agent_id', p_id, 'version', p_version, 'deleted', true)
                ELSE json_build_object('kind', 'agent', 'tenant_id', p_tenant, 'agent_id', p_id, 'version', p_version)
            END::text
        $$
        """,
        // Returns NULL when created, else the tenant's tier: its quota (from p_limits, by tier) is full.
        // The tenant row is locked first, so parallel creates of one tenant cannot overshoot.
        """
        CREATE FUNCTION ams_create_agent(
            p_tenant text, p_default_tier text, p_limits jsonb, p_id uuid, p_name text, p_type text, p_status text,
            p_config jsonb, p_validation jsonb, p_at timestamptz, p_by text
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
                                created_at, updated_at, created_by, updated_by)
            VALUES (p_id, p_tenant, p_name, p_type, p_status, 1, p_config, p_validation, p_at, p_at, p_by, p_by);
            PERFORM pg_notify('agent_management_changes', ams_change_notice(p_tenant, p_id, 1, false));
            RETURN NULL;
        END
        $$
        """,
        // Optimistic: writes only if the agent is still at p_version; returns the new version, or NULL.
        """
        CREATE FUNCTION ams_update_agent(
            p_tenant text, p_id uuid, p_version integer, p_name text, p_type text, p_status text,
            p_config jsonb, p_validation jsonb, p_at timestamptz, p_by text
        ) RETURNS integer LANGUAGE plpgsql AS $$
        DECLARE
            v_version integer;
        BEGIN
            PERFORM set_config('app.tenant_id', p_tenant, true);
            UPDATE agents SET name = p_name, type = p_type, status = p_status, version = p_version + 1,
                config = p_config, validation = p_validation, updated_at = p_at, updated_by = p_by
            WHERE tenant_id = p_tenant AND id = p_id AND deleted_at IS NULL AND version = p_version
            RETURNING version INTO v_version;
            IF v_version IS NOT NULL THEN
                PERFORM pg_notify('agent_management_changes', ams_change_notice(p_tenant, p_id, v_version, false));
            END IF;
            RETURN v_version;
        END
        $$
        """,
        // One round trip for a read of one agent, where a transaction around `set_config` would take four.
        """
        CREATE FUNCTION ams_agent(p_tenant text, p_id uuid) RETURNS SETOF agents LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM set_config('app.tenant_id', p_tenant, true);
            RETURN QUERY SELECT * FROM agents WHERE tenant_id = p_tenant AND id = p_id AND deleted_at IS NULL;
        END
        $$
        """,
        // Soft delete: frees the name and the quota slot; returns the deleted version, or NULL.
        """
        CREATE FUNCTION ams_delete_agent(p_tenant text, p_id uuid) RETURNS integer LANGUAGE plpgsql AS $$
        DECLARE
            v_version integer;
        BEGIN
            PERFORM set_config('app.tenant_id', p_tenant, true);
            UPDATE agents SET deleted_at = now()
            WHERE tenant_id = p_tenant AND id = p_id AND deleted_at IS NULL
            RETURNING version INTO v_version;
            IF v_version IS NOT NULL THEN
                PERFORM pg_notify('agent_management_changes', ams_change_notice(p_tenant, p_id, v_version, true));
            END IF;
            RETURN v_version;
        END
        $$
        """,
    ]
}
