//! Listening sockets handed over by the service manager (systemd socket activation,
//! `LISTEN_FDS`), named by `LISTEN_FDNAMES` as the `.socket` unit's `FileDescriptorName=` says:
//! `api`, `smtp`, `metrics`.
//!
//! Why: the socket outlives the process. A restart, a crash or an upgrade leaves connections
//! waiting in the kernel's queue instead of refused, and the port is never free for another
//! process to take in between (the tests that kill the daemon rely on exactly that).
//!
//! Which socket plays which part is a plain function ([`roles`]); taking the descriptors is the
//! `listenfd` crate's (it checks each is a TCP listener).

use std::net::TcpListener;

/// The part an inherited socket plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Api,
    Smtp,
    Metrics,
}

impl Role {
    const ALL: [Role; 3] = [Role::Api, Role::Smtp, Role::Metrics];

    /// Its `FileDescriptorName=`.
    pub fn name(self) -> &'static str {
        match self {
            Role::Api => "api",
            Role::Smtp => "smtp",
            Role::Metrics => "metrics",
        }
    }
}

/// Why the inherited sockets cannot be used; the daemon does not start.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SocketError {
    #[error("LISTEN_FDNAMES names {0:?}; each inherited socket must be named api, smtp or metrics (FileDescriptorName=)")]
    UnknownName(String),
    #[error("LISTEN_FDNAMES names {0:?} twice")]
    Twice(&'static str),
    #[error("LISTEN_FDS gives {fds} sockets but LISTEN_FDNAMES names {names}")]
    Count { fds: usize, names: usize },
    #[error(
        "inherited socket {role} (descriptor {index}) is not a listening TCP socket: {reason}"
    )]
    NotTcp {
        role: &'static str,
        index: usize,
        reason: String,
    },
}

/// The role of each of `fds` inherited sockets, in order. Without names, a lone socket is
/// the API's (a `.socket` unit with one `ListenStream=` and no name); otherwise every socket
/// must be named, once each.
pub fn roles(fds: usize, names: Option<&str>) -> Result<Vec<Role>, SocketError> {
    let names: Vec<&str> = match names {
        Some(n) if !n.is_empty() => n.split(':').collect(),
        _ if fds <= 1 => return Ok(vec![Role::Api; fds]),
        _ => {
            return Err(SocketError::Count { fds, names: 0 });
        }
    };
    if names.len() != fds {
        return Err(SocketError::Count {
            fds,
            names: names.len(),
        });
    }
    let mut roles = Vec::with_capacity(fds);
    for name in names {
        let role = Role::ALL
            .into_iter()
            .find(|r| r.name() == name)
            .ok_or_else(|| SocketError::UnknownName(name.to_string()))?;
        if roles.contains(&role) {
            return Err(SocketError::Twice(role.name()));
        }
        roles.push(role);
    }
    Ok(roles)
}

/// The sockets the daemon was given instead of binding its own; each `None` is bound from the
/// config as usual.
#[derive(Debug, Default)]
pub struct Inherited {
    /// Serves the API in place of `[api] listen`.
    pub api: Option<TcpListener>,
    /// Takes replies in place of `[inbound.smtp] listen`.
    pub smtp: Option<TcpListener>,
    /// Serves `/metrics` in place of `[metrics] listen`.
    pub metrics: Option<TcpListener>,
}

impl Inherited {
    /// Takes the sockets from the environment. Call it before any thread starts: reading them
    /// unsets `LISTEN_FDS` and `LISTEN_PID`, so nothing this process starts inherits them.
    pub fn from_env() -> Result<Self, SocketError> {
        let names = std::env::var("LISTEN_FDNAMES").ok();
        let mut fds = listenfd::ListenFd::from_env();
        let mut inherited = Inherited::default();
        for (index, role) in roles(fds.len(), names.as_deref())?.into_iter().enumerate() {
            let not_tcp = |reason: String| SocketError::NotTcp {
                role: role.name(),
                index,
                reason,
            };
            let listener = fds
                .take_tcp_listener(index)
                .map_err(|e| not_tcp(e.to_string()))?
                .ok_or_else(|| not_tcp("already taken".into()))?;
            listener
                .set_nonblocking(true)
                .map_err(|e| not_tcp(e.to_string()))?;
            match role {
                Role::Api => inherited.api = Some(listener),
                Role::Smtp => inherited.smtp = Some(listener),
                Role::Metrics => inherited.metrics = Some(listener),
            }
        }
        Ok(inherited)
    }

    /// Whether nothing was inherited.
    pub fn is_empty(&self) -> bool {
        self.api.is_none() && self.smtp.is_none() && self.metrics.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case::none(0, None, Ok(vec![]))]
    #[case::lone_unnamed_is_the_api(1, None, Ok(vec![Role::Api]))]
    #[case::lone_default_name_is_not_guessed(1, Some("replyrelay.socket"), Err(SocketError::UnknownName("replyrelay.socket".into())))]
    #[case::named(3, Some("smtp:api:metrics"), Ok(vec![Role::Smtp, Role::Api, Role::Metrics]))]
    #[case::two_unnamed(2, None, Err(SocketError::Count { fds: 2, names: 0 }))]
    #[case::fewer_names(2, Some("api"), Err(SocketError::Count { fds: 2, names: 1 }))]
    #[case::twice(2, Some("api:api"), Err(SocketError::Twice("api")))]
    #[case::unknown(1, Some("imap"), Err(SocketError::UnknownName("imap".into())))]
    fn inherited_sockets_get_their_roles_from_their_names(
        #[case] fds: usize,
        #[case] names: Option<&str>,
        #[case] expected: Result<Vec<Role>, SocketError>,
    ) {
        assert_eq!(roles(fds, names), expected);
    }
}
