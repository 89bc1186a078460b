//! Device claiming (`ClaimDevicesServiceImpl`): a device registers a secret for a while,
//! a customer user claims it with that secret.

use tbgw_codec::DeviceClaim;
use uuid::Uuid;

use super::Core;
use super::store::Scope;

/// The `claimDevices` cache keeps a registration this long (1440 min), first one winning.
const CACHE_TTL_MS: i64 = 86_400_000;

#[derive(Clone, Debug, PartialEq)]
pub struct ClaimRegistration {
    pub secret_key: String,
    pub expires_at: i64,
    registered_at: i64,
}

/// The answer to `POST /api/customer/device/{name}/claim`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClaimResult {
    Success,
    Failure,
    Claimed,
}

impl ClaimResult {
    pub fn as_str(self) -> &'static str {
        match self {
            ClaimResult::Success => "SUCCESS",
            ClaimResult::Failure => "FAILURE",
            ClaimResult::Claimed => "CLAIMED",
        }
    }
}

impl Core {
    /// A device asks to be claimable; `false` when it already has a customer (only logged by ThingsBoard).
    pub fn register_claim(&mut self, device: Uuid, secret_key: &str, duration_ms: i64) -> bool {
        let now = self.now();
        let Some(owned) = self.device(device).map(|d| d.customer_id.is_some()) else {
            return false;
        };
        if owned {
            return false;
        }
        let cached = self
            .claims
            .get(&device)
            .is_some_and(|c| now < c.registered_at.saturating_add(CACHE_TTL_MS));
        if !cached {
            // `security.claim.duration`: 24 h by default (the yml comment saying one minute is wrong).
            let duration = if duration_ms > 0 {
                duration_ms
            } else {
                self.settings.claim_duration_ms
            };
            self.claims.insert(
                device,
                ClaimRegistration {
                    secret_key: secret_key.to_owned(),
                    expires_at: now.saturating_add(duration),
                    registered_at: now,
                },
            );
        }
        true
    }

    /// A claim message's entry, with ThingsBoard's defaults: the empty key, the default duration.
    pub fn register_device_claim(&mut self, device: Uuid, claim: &DeviceClaim) -> bool {
        let secret = claim.secret_key.as_deref().unwrap_or("");
        self.register_claim(device, secret, claim.duration_ms.unwrap_or(0))
    }

    /// A customer user claims a device by name with a secret key.
    pub fn claim(&mut self, device: Uuid, customer: Uuid, secret_key: &str) -> ClaimResult {
        let now = self.now();
        let Some(owned) = self.device(device).map(|d| d.customer_id.is_some()) else {
            return ClaimResult::Failure;
        };
        if owned {
            return ClaimResult::Claimed;
        }
        let Some(registration) = self.claims.remove(&device) else {
            return ClaimResult::Failure;
        };
        if registration.secret_key != secret_key || registration.expires_at <= now {
            return ClaimResult::Failure;
        }
        if let Some(d) = self.devices.get_mut(&device) {
            d.customer_id = Some(customer);
            d.record_save();
        }
        let data = self.store.device_mut(device);
        data.remove_attribute(Scope::Server, "claimingAllowed");
        data.remove_attribute(Scope::Server, "claimingData");
        ClaimResult::Success
    }

    /// `DELETE /api/customer/device/{name}/claim`: the device has no customer again.
    pub fn reclaim(&mut self, device: Uuid) -> bool {
        match self.devices.get_mut(&device) {
            Some(d) => {
                d.customer_id = None;
                d.record_save();
                true
            }
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::emulator::core::Config;
    use crate::emulator::core::clock::ManualClock;

    fn core_with_device() -> (Core, ManualClock, Uuid, Uuid) {
        let clock = ManualClock::starting_at(1_000);
        let core_clock = Box::new(clock.clone());
        let mut core = Core::new(&Config::default(), core_clock);
        let device = core
            .create_device("D", None, None, json!({}), None)
            .unwrap_or_default();
        let customer = core.customers[0].id;
        (core, clock, device, customer)
    }

    #[test]
    fn a_claim_after_its_duration_fails() {
        let (mut core, clock, device, customer) = core_with_device();
        assert!(core.register_claim(device, "k", 500));
        clock.advance(500);
        assert_eq!(core.claim(device, customer, "k"), ClaimResult::Failure);
    }

    #[test]
    fn the_first_registration_wins_and_no_duration_means_a_day() {
        let (mut core, clock, device, customer) = core_with_device();
        assert!(core.register_claim(device, "first", 0));
        assert!(core.register_claim(device, "second", 0));
        clock.advance(86_400_000 - 1);
        assert_eq!(core.claim(device, customer, "first"), ClaimResult::Success);
        assert_eq!(core.claim(device, customer, "first"), ClaimResult::Claimed);
        assert!(
            !core.register_claim(device, "again", 0),
            "an owned device cannot register"
        );
    }
}
