//! The room ports: who is connected (a user's room, each connection) and who follows a job.

use anyhow::Context as _;

use super::item::{corrupt, get_s, n, s};
use super::{CONNECTIONS_BY_USER, DynamoStore, SUBSCRIPTIONS_BY_CONNECTION};
use crate::clock;
use crate::config::CONNECTION_TTL;
use crate::ids::{ConnectionId, JobId, UserId};
use crate::ports::{Connection, ConnectionStore, StoreError, SubscriptionStore, UserRoom};

impl UserRoom for DynamoStore {
    async fn connections_of(&self, user: &UserId) -> Result<Vec<ConnectionId>, StoreError> {
        let mut pages = self
            .client
            .query()
            .table_name(&self.tables.connections)
            .index_name(CONNECTIONS_BY_USER)
            .key_condition_expression("userId = :u")
            .filter_expression("expiresAt > :now")
            .expression_attribute_values(":u", s(user.as_str()))
            .expression_attribute_values(":now", n(clock::epoch_seconds()))
            .into_paginator()
            .items()
            .send();
        let mut out = Vec::new();
        while let Some(item) = pages.next().await {
            let item = item.context("listing a user's connections")?;
            out.push(ConnectionId::parse(get_s(&item, "connectionId")?).map_err(corrupt("connectionId"))?);
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
            .send()
            .await
            .context("writing a connection")?;
        Ok(())
    }

    async fn delete_connection(&self, id: &ConnectionId) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.tables.connections)
            .key("connectionId", s(id.as_str()))
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
        Ok(())
    }
}

impl SubscriptionStore for DynamoStore {
    async fn subscribe(&self, job: &JobId, connection: &ConnectionId, user: &UserId) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.tables.subscriptions)
            .item("jobId", s(job.as_str()))
            .item("connectionId", s(connection.as_str()))
            .item("userId", s(user.as_str()))
            .item("expiresAt", n(clock::expires_in(CONNECTION_TTL)))
            .send()
            .await
            .context("writing a subscription")?;
        Ok(())
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
        Ok(())
    }

    async fn subscribers(&self, job: &JobId) -> Result<Vec<ConnectionId>, StoreError> {
        // Expired rows stay readable until DynamoDB's TTL sweep deletes them: filter them out.
        let mut pages = self
            .client
            .query()
            .table_name(&self.tables.subscriptions)
            .key_condition_expression("jobId = :j")
            .filter_expression("expiresAt > :now")
            .expression_attribute_values(":j", s(job.as_str()))
            .expression_attribute_values(":now", n(clock::epoch_seconds()))
            .projection_expression("connectionId")
            .consistent_read(true)
            .into_paginator()
            .items()
            .send();
        let mut out = Vec::new();
        while let Some(item) = pages.next().await {
            let item = item.context("listing a job's subscribers")?;
            out.push(ConnectionId::parse(get_s(&item, "connectionId")?).map_err(corrupt("connectionId"))?);
        }
        Ok(out)
    }
}
