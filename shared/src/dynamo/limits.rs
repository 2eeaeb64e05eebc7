//! Per-user allowances: one counter item per user and allowance in the limits table, raised
//! with a conditional `ADD` that holds only below the bound, so two racing callers can never
//! both take the last unit (no read-then-write).
//!
//! Each count has a lease (`expiresAt`), renewed whenever it is raised. A lease that ran out
//! means everything it counted has ended, so the next acquire starts the count over: a unit
//! that a crashed caller never gave back heals instead of blocking its user for good.

use super::DynamoStore;
use super::item::{n, s};
use super::retry::is_condition_failure;
use crate::clock;
use crate::ids::UserId;
use crate::ports::{Allowance, StoreError, UserLimits};

impl UserLimits for DynamoStore {
    async fn acquire(&self, user: &UserId, allowance: Allowance, max: u32) -> Result<bool, StoreError> {
        if max == 0 {
            return Ok(false);
        }
        let key = allowance.key(user);
        let now = clock::epoch_seconds();
        let lease_end = clock::expires_in(allowance.lease());
        let raised = self
            .client
            .update_item()
            .table_name(&self.tables.limits)
            .key("limitKey", s(&key))
            .update_expression("ADD #count :one SET expiresAt = :lease")
            .condition_expression("attribute_not_exists(#count) OR (#count < :max AND expiresAt > :now)")
            .expression_attribute_names("#count", "taken")
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":max", n(max))
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":lease", n(lease_end))
            .send()
            .await;
        match raised {
            Ok(_) => return Ok(true),
            Err(err) if is_condition_failure(&err) => {}
            Err(err) => return Err(anyhow::Error::new(err).context("raising a user's count").into()),
        }
        // At the bound, or the lease ran out: only the latter starts over.
        let restarted = self
            .client
            .update_item()
            .table_name(&self.tables.limits)
            .key("limitKey", s(&key))
            .update_expression("SET #count = :one, expiresAt = :lease")
            .condition_expression("expiresAt <= :now")
            .expression_attribute_names("#count", "taken")
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":lease", n(lease_end))
            .send()
            .await;
        match restarted {
            Ok(_) => Ok(true),
            Err(err) if is_condition_failure(&err) => Ok(false),
            Err(err) => Err(anyhow::Error::new(err).context("restarting a user's count").into()),
        }
    }

    async fn release(&self, user: &UserId, allowance: Allowance) -> Result<(), StoreError> {
        let lowered = self
            .client
            .update_item()
            .table_name(&self.tables.limits)
            .key("limitKey", s(allowance.key(user)))
            .update_expression("ADD #count :minus")
            .condition_expression("#count > :zero")
            .expression_attribute_names("#count", "taken")
            .expression_attribute_values(":minus", n(-1))
            .expression_attribute_values(":zero", n(0))
            .send()
            .await;
        match lowered {
            // Already zero, or started over since: nothing to give back.
            Ok(_) => Ok(()),
            Err(err) if is_condition_failure(&err) => Ok(()),
            Err(err) => Err(anyhow::Error::new(err).context("lowering a user's count").into()),
        }
    }
}
