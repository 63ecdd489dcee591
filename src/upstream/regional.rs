//! One upstream client per region (contract §10): each with its own
//! connection pool, in-flight slots and retry budgets, so that an outage in
//! one region never slows another. The default region's client is built at
//! start; another region's on its first call, from the region table's
//! endpoints, and kept (at most one per known region).

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use super::{
    client::{UpstreamClient, UpstreamSettings},
    regions::RegionTable,
};
use crate::metrics::Metrics;

/// A region the gateway does not know; the text lists the known ones.
#[derive(Debug, Clone, thiserror::Error)]
#[error("must be one of the known regions: {known}")]
pub struct UnknownRegion {
    /// The known regions, comma-separated.
    pub known: String,
}

/// The upstream clients of every region.
pub struct Upstreams {
    default_region: Arc<str>,
    default: UpstreamClient,
    table: Option<RegionTable>,
    template: UpstreamSettings,
    metrics: Arc<Metrics>,
    others: Mutex<HashMap<Arc<str>, UpstreamClient>>,
    /// Each region's project as IAM named it, found once.
    projects: Mutex<HashMap<Arc<str>, String>>,
    /// The gateway's IAM user, if it logs in: each other region gets a token
    /// provider of its own, on that region's IAM endpoint.
    iam: Option<super::iam::IamSettings>,
    iam_providers: Mutex<HashMap<Arc<str>, Arc<super::iam::IamTokenProvider>>>,
}

impl std::fmt::Debug for Upstreams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upstreams")
            .field("default_region", &self.default_region)
            .finish_non_exhaustive()
    }
}

impl Upstreams {
    /// The default region's `client`, and the other regions of `table`
    /// (none: the gateway serves its default region only), built from
    /// `template` with their own endpoints.
    pub fn new(
        default_region: &str,
        client: UpstreamClient,
        table: Option<RegionTable>,
        template: UpstreamSettings,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            default_region: default_region.into(),
            default: client.in_region(default_region),
            table,
            template,
            metrics,
            others: Mutex::new(HashMap::new()),
            projects: Mutex::new(HashMap::new()),
            iam: None,
            iam_providers: Mutex::new(HashMap::new()),
        }
    }

    /// Logs in as the gateway's IAM user in every region (`settings` are the
    /// default region's; other regions use their own IAM endpoints).
    pub fn with_iam(mut self, settings: Option<super::iam::IamSettings>) -> Self {
        self.iam = settings;
        self
    }

    /// The IAM token provider of `region` (not the default one: the caller
    /// holds that), built on first use with `client`'s connection pool.
    pub fn iam_for(
        &self,
        region: &Arc<str>,
        client: &UpstreamClient,
    ) -> Option<Arc<super::iam::IamTokenProvider>> {
        let template = self.iam.as_ref()?;
        let endpoint = self.table.as_ref()?.get(region)?.iam.url.clone();
        let mut providers = self.iam_providers.lock().unwrap_or_else(|e| e.into_inner());
        let provider = providers.entry(region.clone()).or_insert_with(|| {
            let mut settings = template.clone();
            settings.endpoint = endpoint;
            Arc::new(super::iam::IamTokenProvider::new(
                client.http().clone(),
                settings,
            ))
        });
        Some(provider.clone())
    }

    /// The region a call without one goes to.
    pub fn default_region(&self) -> &Arc<str> {
        &self.default_region
    }

    /// The default region's client.
    pub fn default_client(&self) -> &UpstreamClient {
        &self.default
    }

    /// `region`'s name and client (`""`: the default region's).
    pub fn get(&self, region: &str) -> Result<(Arc<str>, UpstreamClient), UnknownRegion> {
        if region.is_empty() || *region == *self.default_region {
            return Ok((self.default_region.clone(), self.default.clone()));
        }
        let unknown = || UnknownRegion {
            known: self.known(),
        };
        let endpoints = self
            .table
            .as_ref()
            .and_then(|t| t.get(region))
            .ok_or_else(unknown)?;
        let mut others = self.others.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((name, client)) = others.get_key_value(region) {
            return Ok((name.clone(), client.clone()));
        }
        let mut settings = self.template.clone();
        settings.cbr_endpoint = Some(endpoints.cbr.url.clone());
        settings.csbs_endpoint = Some(endpoints.csbs.url.clone());
        settings.iam_endpoint = Some(endpoints.iam.url.clone());
        // Building a client only fails when TLS cannot be set up, which the
        // default region's client already did.
        let client = UpstreamClient::new(settings)
            .map_err(|_| unknown())?
            .with_metrics(self.metrics.clone())
            .in_region(region);
        let name: Arc<str> = region.into();
        others.insert(name.clone(), client.clone());
        tracing::info!(region, cbr_endpoint = %endpoints.cbr.url, "first call to region: upstream client ready");
        Ok((name, client))
    }

    /// `region`'s project ID as IAM names it, asked once per region and
    /// kept: `GET /v3/projects?name=` signed with AK/SK, or, for the
    /// gateway's IAM user, a login scoped to the project by name. `None`
    /// when IAM lists none.
    pub async fn project_of(
        &self,
        region: &Arc<str>,
        client: &UpstreamClient,
        auth: &super::Auth,
        deadline: Option<tokio::time::Instant>,
    ) -> Result<Option<String>, super::UpstreamError> {
        if let Some(id) = self
            .projects
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(region)
        {
            return Ok(Some(id.clone()));
        }
        let found = match auth {
            // A password login scoped to the project named after the region
            // answers with its ID (and a token for it).
            super::Auth::Iam(provider) => Some(provider.project_named(region, deadline).await?),
            _ => match client.region_project(auth, deadline, region).await {
                Ok(reply) => reply.value,
                // No IAM endpoint: nothing to ask; the call must name its project.
                Err(super::UpstreamError::NotConfigured { .. }) => return Ok(None),
                Err(e) => return Err(e),
            },
        };
        if let Some(id) = &found {
            tracing::info!(region = %region, project_id = %id, "found the region's project ID with IAM; calls naming no project act in it");
            self.projects
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(region.clone(), id.clone());
        }
        Ok(found)
    }

    /// The known regions, comma-separated.
    pub fn known(&self) -> String {
        match &self.table {
            Some(t) => t.known(),
            None => self.default_region.to_string(),
        }
    }

    /// Upstream requests in flight now, every region together.
    pub fn inflight(&self) -> usize {
        let others = self.others.lock().unwrap_or_else(|e| e.into_inner());
        self.default.inflight() + others.values().map(UpstreamClient::inflight).sum::<usize>()
    }
}
