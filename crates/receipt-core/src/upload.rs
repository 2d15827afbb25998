//! The upload protocol between terminal and platform: the HPKE envelope that carries a receipt
//! and the acknowledgement the platform signs.
