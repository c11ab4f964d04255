// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";

/// @title The ledger's checkpoints, fixed on chain (TT-2, TT-5; MV-15)
/// @notice Stores ledger checkpoints (block height, size and root of the RFC 6962 transfer
/// log) and accepts one only with EIP-712 signatures of at least `threshold` of the
/// registered authorities: the witness nodes that partners run (Proof-of-Authority). A
/// checkpoint must move forward: a higher block height and a tree at least as large, so an
/// old checkpoint can never be replayed. GOVERNOR_ROLE adds and removes authorities and sets
/// the threshold.
contract Anchor is AccessControl, EIP712 {
    bytes32 public constant GOVERNOR_ROLE = keccak256("GOVERNOR_ROLE");
    bytes32 public constant CHECKPOINT_TYPEHASH =
        keccak256("Checkpoint(uint64 height,uint64 treeSize,bytes32 root)");
    /// @notice Most authorities (bounds the signature loop).
    uint256 public constant AUTHORITIES_MAX = 32;

    struct Anchored {
        uint64 height;
        uint64 treeSize;
        bytes32 root;
        uint64 anchoredAt;
    }

    mapping(address authority => bool) public isAuthority;
    address[] private _authorities;
    uint256 public threshold;
    Anchored[] private _checkpoints;

    event AuthorityAdded(address indexed authority);
    event AuthorityRemoved(address indexed authority);
    event ThresholdSet(uint256 threshold);
    event CheckpointAnchored(uint256 indexed index, uint64 height, uint64 treeSize, bytes32 root, address[] signers);

    error NotForward(uint64 height, uint64 treeSize);
    error UnknownSigner(address signer);
    error SignersNotAscending(address signer);
    error TooFewSignatures(uint256 valid, uint256 threshold);
    error BadThreshold(uint256 threshold, uint256 authorities);
    error TooManyAuthorities();

    constructor(address governor, address[] memory authorities_, uint256 threshold_) EIP712("MileverseAnchor", "1") {
        _grantRole(DEFAULT_ADMIN_ROLE, governor);
        _grantRole(GOVERNOR_ROLE, governor);
        for (uint256 i = 0; i < authorities_.length; i++) {
            _addAuthority(authorities_[i]);
        }
        _setThreshold(threshold_);
    }

    function addAuthority(address authority) external onlyRole(GOVERNOR_ROLE) {
        _addAuthority(authority);
    }

    function removeAuthority(address authority) external onlyRole(GOVERNOR_ROLE) {
        require(isAuthority[authority], "not an authority");
        isAuthority[authority] = false;
        uint256 last = _authorities.length - 1;
        for (uint256 i = 0; i < last; i++) {
            if (_authorities[i] == authority) {
                _authorities[i] = _authorities[last];
                break;
            }
        }
        _authorities.pop();
        if (threshold > _authorities.length) revert BadThreshold(threshold, _authorities.length);
        emit AuthorityRemoved(authority);
    }

    function setThreshold(uint256 threshold_) external onlyRole(GOVERNOR_ROLE) {
        _setThreshold(threshold_);
    }

    function _addAuthority(address authority) private {
        require(authority != address(0) && !isAuthority[authority], "bad or known authority");
        if (_authorities.length >= AUTHORITIES_MAX) revert TooManyAuthorities();
        isAuthority[authority] = true;
        _authorities.push(authority);
        emit AuthorityAdded(authority);
    }

    function _setThreshold(uint256 threshold_) private {
        uint256 count = _authorities.length;
        if (threshold_ == 0 || threshold_ > count) revert BadThreshold(threshold_, count);
        threshold = threshold_;
        emit ThresholdSet(threshold_);
    }

    /// @notice The EIP-712 digest the authorities sign for a checkpoint.
    function digest(uint64 height, uint64 treeSize, bytes32 root) public view returns (bytes32) {
        return _hashTypedDataV4(keccak256(abi.encode(CHECKPOINT_TYPEHASH, height, treeSize, root)));
    }

    /// @notice Anchors a checkpoint signed by at least `threshold` authorities. Signatures
    /// must come in ascending order of their signers' addresses (so none counts twice).
    function anchor(uint64 height, uint64 treeSize, bytes32 root, bytes[] calldata signatures)
        external
        returns (uint256 index)
    {
        if (_checkpoints.length > 0) {
            Anchored storage last = _checkpoints[_checkpoints.length - 1];
            if (height <= last.height || treeSize < last.treeSize) revert NotForward(height, treeSize);
        }
        bytes32 hash = digest(height, treeSize, root);
        address[] memory signers = new address[](signatures.length);
        address previous = address(0);
        for (uint256 i = 0; i < signatures.length; i++) {
            address signer = ECDSA.recover(hash, signatures[i]);
            if (!isAuthority[signer]) revert UnknownSigner(signer);
            if (signer <= previous) revert SignersNotAscending(signer);
            signers[i] = signer;
            previous = signer;
        }
        if (signatures.length < threshold) revert TooFewSignatures(signatures.length, threshold);
        index = _checkpoints.length;
        _checkpoints.push(Anchored({height: height, treeSize: treeSize, root: root, anchoredAt: uint64(block.timestamp)}));
        emit CheckpointAnchored(index, height, treeSize, root, signers);
    }

    function authorityCount() external view returns (uint256) {
        return _authorities.length;
    }

    /// @notice The authorities, in no particular order (at most AUTHORITIES_MAX).
    function authorities() external view returns (address[] memory) {
        return _authorities;
    }

    function checkpointCount() external view returns (uint256) {
        return _checkpoints.length;
    }

    function checkpointAt(uint256 index) external view returns (Anchored memory) {
        return _checkpoints[index];
    }

    /// @notice The latest anchored checkpoint (reverts if none).
    function latest() external view returns (Anchored memory) {
        return _checkpoints[_checkpoints.length - 1];
    }
}
