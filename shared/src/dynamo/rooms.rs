//! The room ports: who is connected (a user's room, each connection) and who follows a job.
//!
//! A connection's row also holds the set of jobs it follows (`jobs`), so the per-connection
//! subscription limit is one conditional write: `ADD` to the set only while it is smaller than
//! the limit (or already holds the job).

use anyhow::Context as _;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};

use super::item::{Item, corrupt, get_n, get_s, n, s};
use super::retry::is_condition_failure;
use super::{CONNECTIONS_BY_USER, DynamoStore, SUBSCRIPTIONS_BY_CONNECTION};
use crate::clock;
use crate::config::CONNECTION_TTL;
use crate::ids::{ConnectionId, JobId, UserId};
use crate::ports::{
    Allowance, Connection, ConnectionStore, StoreError, Subscribed, SubscriptionStore, Targets, UserLimits, UserRoom,
};

const TOKEN_EXPIRES_AT: &str = "tokenExpiresAt";

/// The token expiry of a row. A row without one (written before connections carried it) counts
/// as expired: its token cannot be checked, so it is closed rather than pushed to.
fn token_expiry(item: &Item) -> u64 {
    get_n(item, TOKEN_EXPIRES_AT).unwrap_or(0)
}

fn add_target(targets: &mut Targets, item: &Item, now: u64) -> Result<(), StoreError> {
    let id = ConnectionId::parse(get_s(item, "connectionId")?).map_err(corrupt("connectionId"))?;
    targets.add(id, token_expiry(item), now);
    Ok(())
}

impl UserRoom for DynamoStore {
    async fn connections_of(&self, user: &UserId) -> Result<Targets, StoreError> {
        let now = clock::epoch_seconds();
        let mut pages = self
            .client
            .query()
            .table_name(&self.tables.connections)
            .index_name(CONNECTIONS_BY_USER)
            .key_condition_expression("userId = :u")
            .filter_expression("expiresAt > :now")
            .expression_attribute_values(":u", s(user.as_str()))
            .expression_attribute_values(":now", n(now))
            .into_paginator()
            .items()
            .send();
        let mut out = Targets::default();
        while let Some(item) = pages.next().await {
            add_target(&mut out, &item.context("listing a user's connections")?, now)?;
        }
        Ok(out)
    }
}

impl ConnectionStore for DynamoStore {
    async fn put_connection(&self, connection: &Connection) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.tables.connections)
            .item("connectionId", s(connection.id.as_str()))
            .item("userId", s(connection.user.as_str()))
            .item("connectedAt", n(connection.connected_at))
            .item("expiresAt", n(connection.expires_at))
            .item(TOKEN_EXPIRES_AT, n(connection.token_expires_at))
            .send()
            .await
            .context("writing a connection")?;
        Ok(())
    }

    async fn delete_connection(&self, id: &ConnectionId) -> Result<(), StoreError> {
        let removed = self
            .client
            .delete_item()
            .table_name(&self.tables.connections)
            .key("connectionId", s(id.as_str()))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .context("deleting a connection")?;
        let mut pages = self
            .client
            .query()
            .table_name(&self.tables.subscriptions)
            .index_name(SUBSCRIPTIONS_BY_CONNECTION)
            .key_condition_expression("connectionId = :c")
            .expression_attribute_values(":c", s(id.as_str()))
            .into_paginator()
            .items()
            .send();
        while let Some(item) = pages.next().await {
            let item = item.context("listing a connection's subscriptions")?;
            let job = get_s(&item, "jobId")?;
            self.client
                .delete_item()
                .table_name(&self.tables.subscriptions)
                .key("jobId", s(job))
                .key("connectionId", s(id.as_str()))
                .send()
                .await
                .context("deleting a subscription")?;
        }
        // Last, and only by the call that removed the row (`$disconnect` and a 410 on push can
        // both come for one connection). A failure here must not fail the cleanup: the count's
        // lease heals it.
        if let Some(owner) = removed.attributes.as_ref().and_then(|old| get_s(old, "userId").ok()) {
            let owner = UserId::parse(owner).map_err(corrupt("userId"))?;
            if let Err(err) = self.release(&owner, Allowance::Connections).await {
                tracing::warn!(connection_id = %id, error = %err, "connection slot not given back");
            }
        }
        Ok(())
    }
}

impl SubscriptionStore for DynamoStore {
    async fn subscribe(
        &self,
        job: &JobId,
        connection: &ConnectionId,
        user: &UserId,
        max_per_connection: u32,
    ) -> Result<Subscribed, StoreError> {
        let claimed = self
            .client
            .update_item()
            .table_name(&self.tables.connections)
            .key("connectionId", s(connection.as_str()))
            .update_expression("ADD jobs :set")
            .condition_expression(
                "attribute_exists(connectionId) AND \
                 (attribute_not_exists(jobs) OR contains(jobs, :job) OR size(jobs) < :max)",
            )
            .expression_attribute_values(":set", AttributeValue::Ss(vec![job.as_str().to_owned()]))
            .expression_attribute_values(":job", s(job.as_str()))
            .expression_attribute_values(":max", n(max_per_connection))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        let row = match claimed {
            Ok(out) => out.attributes.unwrap_or_default(),
            Err(err) if is_condition_failure(&err) => {
                let row = self
                    .client
                    .get_item()
                    .table_name(&self.tables.connections)
                    .key("connectionId", s(connection.as_str()))
                    .consistent_read(true)
                    .send()
                    .await
                    .context("reading a connection")?;
                return Ok(if row.item.is_some() { Subscribed::TooMany } else { Subscribed::ConnectionGone });
            }
            Err(err) => return Err(anyhow::Error::new(err).context("claiming a subscription slot").into()),
        };
        self.client
            .put_item()
            .table_name(&self.tables.subscriptions)
            .item("jobId", s(job.as_str()))
            .item("connectionId", s(connection.as_str()))
            .item("userId", s(user.as_str()))
            .item("expiresAt", n(clock::expires_in(CONNECTION_TTL)))
            .item(TOKEN_EXPIRES_AT, n(token_expiry(&row)))
            .send()
            .await
            .context("writing a subscription")?;
        Ok(Subscribed::Yes)
    }

    async fn unsubscribe(&self, job: &JobId, connection: &ConnectionId) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.tables.subscriptions)
            .key("jobId", s(job.as_str()))
            .key("connectionId", s(connection.as_str()))
            .send()
            .await
            .context("deleting a subscription")?;
        // The condition keeps an update of a row already gone from creating a stub of it.
        let freed = self
            .client
            .update_item()
            .table_name(&self.tables.connections)
            .key("connectionId", s(connection.as_str()))
            .update_expression("DELETE jobs :set")
            .condition_expression("attribute_exists(connectionId)")
            .expression_attribute_values(":set", AttributeValue::Ss(vec![job.as_str().to_owned()]))
            .send()
            .await;
        match freed {
            Ok(_) => Ok(()),
            Err(err) if is_condition_failure(&err) => Ok(()),
            Err(err) => Err(anyhow::Error::new(err).context("freeing a subscription slot").into()),
        }
    }

    async fn subscribers(&self, job: &JobId) -> Result<Targets, StoreError> {
        let now = clock::epoch_seconds();
        // Expired rows stay readable until DynamoDB's TTL sweep deletes them: filter them out.
        let mut pages = self
            .client
            .query()
            .table_name(&self.tables.subscriptions)
            .key_condition_expression("jobId = :j")
            .filter_expression("expiresAt > :now")
            .expression_attribute_values(":j", s(job.as_str()))
            .expression_attribute_values(":now", n(now))
            .projection_expression("connectionId, tokenExpiresAt")
            .consistent_read(true)
            .into_paginator()
            .items()
            .send();
        let mut out = Targets::default();
        while let Some(item) = pages.next().await {
            add_target(&mut out, &item.context("listing a job's subscribers")?, now)?;
        }
        Ok(out)
    }
}
